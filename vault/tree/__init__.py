"""RFC 4998-style hash trees: pure functions over hash values, no I/O."""

from vault.tree.hashtree import (
    HashTree,
    ReducedHashTree,
    build_tree,
    root_from_path,
    verify_path,
)

__all__ = ["HashTree", "ReducedHashTree", "build_tree", "root_from_path", "verify_path"]
