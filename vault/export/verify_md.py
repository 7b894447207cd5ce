"""VERIFY.md of a litigation export: the whole bundle checked by hand (docs/export.md).

The page is a procedure an expert can follow with ``openssl``, ``sha256sum``, ``grep``,
``cat``, ``xxd`` and ``printf`` in bash, and at the same time a script: every fenced ``sh``
block is one step, the first defines the helpers and the anchors, each later one prints one
``ok``/``FAILED`` line per check and ends with a command whose exit status is the step's
verdict (``passed``), the last prints ``VALID`` or ``INVALID``. Steps over many files are
loops that read the values from the files themselves, so the page stays the same size for
ten items or ten thousand; each loop comes after a worked example whose literal values are
those of this bundle (the first batch, the first item...). Values written into the page are
only those known before it is written (``export.json`` without the hashes of ``VERIFY.md``
and ``SHA256SUMS``, which the commands read from ``export.json`` at run time).
"""

from __future__ import annotations

import datetime as dt
import shlex
from typing import Any

from vault.export import layout
from vault.tree.hashtree import hash_node

#: the shell helpers every step uses (step 0); bash, GNU grep, openssl, sha256sum, xxd, cat, printf
HELPERS = r"""ok()     { echo "ok      $*"; }
bad()    { echo "FAILED  $*"; FAILS=$((FAILS + 1)); STEP_FAILED=1; }
step()   { STEP_FAILED=0; echo; echo "== $*"; }
passed() { [ "$STEP_FAILED" = 0 ]; }   # the exit status of a step: 0 when none of its checks failed
FAILS=0

first() { local w _; read -r w _; echo "$w"; }   # the first word of the input (the hash in sha256sum output)

field() {   # field KEY FILE: the value of the first "KEY":"..." of a JSON file
  local v
  v=$(grep -o "\"$1\": *\"[^\"]*\"" "$2") || return 1
  v=${v%%$'\n'*}; v=${v%\"}; echo "${v##*\"}"
}

hash_pair() {   # hash_pair A B: SHA-256 of the bytes of the two hex values, the smaller first
  if [[ $1 < $2 ]]; then printf %s "$1" "$2"; else printf %s "$2" "$1"; fi | xxd -r -p | sha256sum | first
}

path_values() {   # path_values FILE: the hash values of the "reduced_hash_tree" in FILE, in order
  grep -zo '"reduced_hash_tree": *\[[][",0-9a-f[:space:]]*\]' "$1" | grep -ao '[0-9a-f]\{64\}'
}

walk() {   # walk START FILE: the root the reduced hash tree of FILE leads START to (TRACE=1: each level)
  local cur=$1 v next seen=
  for v in $(path_values "$2"); do
    if [ -z "$seen" ] && [ "$v" = "$1" ]; then seen=1; continue; fi
    next=$(hash_pair "$cur" "$v")
    [ -n "${TRACE:-}" ] && echo "  sha256( sorted $cur $v ) = $next" >&2
    cur=$next
  done
  [ -n "$seen" ] && echo "$cur"   # nothing when START is not in the tree
}

sealed_batch() {   # sealed_batch ROOT: the batch folder whose batch.json has this root
  local f
  [ -n "$1" ] || return 1
  f=$(grep -ls "\"root\":\"$1\"" batches/*/batch.json /dev/null) || return 1
  f=${f%%$'\n'*}; echo "${f%/batch.json}"
}

signer() {   # signer SEAL: SHA-256 fingerprint of the certificate inside a CMS seal (DER)
  openssl pkcs7 -inform DER -in "$1" -print_certs | openssl x509 -outform DER | sha256sum | first
}

names_signer() {   # names_signer SEAL FP: the seal's signed signingCertificateV2 attribute holds FP
  openssl asn1parse -inform DER -in "$1" | grep -A5 id-smime-aa-signingCertificateV2 | grep -qi "HEX DUMP\]:$2"
}

pinned() { case " $SEAL_FPS " in *" $1 "*) return 0 ;; esac; return 1; }

gen_time() {   # gen_time TOKEN: the time the TSA certified
  local t
  t=$(openssl ts -reply -in "$1" -text 2>/dev/null | grep '^Time stamp:')
  echo "${t#Time stamp: }"
}

cert_fps() {   # cert_fps PEM: SHA-256 fingerprint and subject of each certificate of a PEM file
  local line pem=
  while IFS= read -r line; do
    pem+=$line$'\n'
    if [ "$line" = "-----END CERTIFICATE-----" ]; then
      echo "  $(printf %s "$pem" | openssl x509 -outform DER | sha256sum | first)" \
        " $(printf %s "$pem" | openssl x509 -noout -subject)"
      pem=
    fi
  done < "$1"
}

unb64url() {   # unb64url STRING: decode base64url (no padding)
  local s=${1//-/+}
  s=${s//_/\/}
  while [ $((${#s} % 4)) -ne 0 ]; do s+="="; done
  printf %s "$s" | openssl base64 -d -A
}"""

_RUN_ALL = """\
    v=0; while IFS= read -r l; do case $l in '```sh') v=1 ;; '```') v=0 ;;
      *) [ $v = 1 ] && printf '%s\\n' "$l" ;; esac; done < VERIFY.md > "${TMPDIR:-/tmp}/verify-export.sh"
    bash "${TMPDIR:-/tmp}/verify-export.sh"
"""


def _q(value: object) -> str:
    return shlex.quote(str(value))


def _seconds(iso_time: str) -> int:
    return int(dt.datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp())


def _block(name: str, body: str) -> str:
    """A fenced step: ``# step: NAME`` first (what tests and readers find it by), then ``body``."""
    return f"```sh\n# step: {name}\n{body.strip()}\n```\n"


def _cert_rows(anchors: dict[str, Any]) -> str:
    rows = []
    roles = (
        ("seal_ca", "sealing CA", layout.SEAL_CA),
        ("seal_certificates", "sealing certificate", None),
        ("tsa_ca", "TSA CA", layout.TSA_CA),
        ("tsa_certificates", "TSA certificate", None),
    )
    for key, role, file in roles:
        for c in anchors.get(key) or []:
            what = role + (" (**self-operated**: the provider's own clock)" if c.get("self_operated") else "")
            rows.append(
                f"| {what} | `{c.get('sha256')}` | {c.get('subject')} | {c.get('not_after')} "
                f"| `{c.get('file') or file}` |"
            )
    return "\n".join(rows) or "| (none) | | | | |"


def _header(export: dict[str, Any]) -> str:
    items = export.get("items") or []
    destroyed = sum(1 for i in items if i.get("state") == "destroyed")
    by = export.get("created_by") or {}
    n_chain = len(export.get("chain") or [])
    disclosed = ", ".join(f"`{f}`" for f in export.get("disclosed_fields") or []) or "none"
    return f"""# Verifying this export by hand

| | |
| --- | --- |
| export | `{export.get("id")}` |
| case | `{export.get("case")}` |
| tenant | `{export.get("tenant")}` |
| made | {export.get("created_at")} by `{by.get("actor")}` (role `{by.get("role")}`) |
| items | {len(items)}, of which {destroyed} destroyed |
| batches | {len(export.get("batches") or [])} sealed, and {n_chain} manifest(s) in `chain/` between them |
| disclosed personal fields | {disclosed}; every other personal field is only a salted digest |

This page checks the whole bundle with `openssl`, `sha256sum`, `grep`, `cat`, `xxd` and `printf`
in `bash`: no Python, no jq, no network. Tested with OpenSSL 3.0, GNU bash 5 and GNU grep 3 on
Linux (the helpers need bash 4 or later and GNU grep's `-z`). `docs/export.md` of the vault's
source explains the bundle; `vault verify --bundle` runs the same checks.

**How to run it.** Unzip the bundle, go into its folder, start `bash`, and paste the `sh` blocks
in order, in the same shell (step 0 defines the helpers and the anchors the others use). Each
check prints `ok` or `FAILED` and what it checked; each block's last command (`passed`) fails
when one of its checks did; the last block prints `VALID` or `INVALID`. Do not create files in
the bundle's folder (step 3 counts them). Expect about a tenth of a second per item. To run every
block at once:

{_RUN_ALL}
The steps: 0 set-up, 1 certificates and fingerprints, 2 export.json, 3 every file,
4 batches, 5 chain, 6 items, 7 payloads, 8 disclosures, 9 destroyed items, 10 verdict.
"""


def _setup(export: dict[str, Any]) -> str:
    anchors = export.get("anchors") or {}
    seal_fps = " ".join(str(c.get("sha256")) for c in anchors.get("seal_certificates") or [])
    body = f"""export LC_ALL=C
shopt -s nullglob dotglob globstar
TENANT={_q(export.get("tenant"))}
# The anchors. The defaults are the bundle's own copies: replace them with what you obtained
# from the provider and the TSA yourself (step 1).
SEAL_CA=${{SEAL_CA:-{layout.SEAL_CA}}}      # the provider's sealing CA(s), PEM
TSA_CA=${{TSA_CA:-{layout.TSA_CA}}}        # the TSAs' CA(s), PEM
# SHA-256 of the provider's sealing certificates ("seal_fingerprints" of GET /v1/certificates),
# space-separated; the default is what this bundle declares
SEAL_FPS=${{SEAL_FPS:-"{seal_fps}"}}
{HELPERS}"""
    return f"""
## 0. Set-up

{_block("setup", body)}"""


def _anchors_step(export: dict[str, Any]) -> str:
    anchors = export.get("anchors") or {}
    own = [c for c in anchors.get("tsa_certificates") or [] if c.get("self_operated")]
    own_note = (
        "\n**A TSA of this bundle is self-operated**: its key and clock are the provider's own, so its\n"
        "time proves nothing against the provider; an independent (ideally qualified) TSA's token is\n"
        "what proves the time. Its certificate is marked above.\n"
        if own
        else ""
    )
    body = f"""step "1. certificates in the bundle (compare their fingerprints with the published ones)"
echo "seal CA(s) in $SEAL_CA:"; cert_fps "$SEAL_CA"
echo "TSA CA(s) in $TSA_CA:"; cert_fps "$TSA_CA"
echo "sealing certificates pinned (SEAL_FPS): $SEAL_FPS"
for f in certs/seal/*.pem certs/tsa/*.pem {layout.MANIFEST_TSA}; do
  fp=$(openssl x509 -in "$f" -outform DER | sha256sum | first)
  case $f in
    certs/*) name=${{f##*/}}
             if [ "$fp" = "${{name%.pem}}" ]; then ok "$f"; else bad "$f has fingerprint $fp"; fi ;;
    *) echo "  $f (the TSA certificate of {layout.MANIFEST_TOKEN}): $fp" ;;
  esac
done
passed"""
    return f"""
## 1. Certificates and fingerprints: where trust comes from

The certificates in `certs/` let you run every check below, but **they prove integrity only**:
anyone can build a bundle that is consistent with itself using their own CA. What makes the
seals the provider's and the times a TSA's is that these certificates are the ones the provider
and the TSAs publish. Compare the SHA-256 fingerprints below with the ones the provider publishes
at `GET /v1/certificates` (`seal[].sha256`, `seal_fingerprints`, `tsa[].sha256`; no key needed)
and, for a TSA, with the TSA's own publication (for a qualified TSA, the EU trusted list). Better:
obtain the CA files yourself and set `SEAL_CA`, `TSA_CA` and `SEAL_FPS` in step 0 to them.

| role | SHA-256 fingerprint | subject | valid until | file |
| --- | --- | --- | --- | --- |
{_cert_rows(anchors)}
{own_note}
To print a certificate's fingerprint with openssl (colons and capitals, same digits):

    openssl x509 -in certs/seal-ca.pem -noout -fingerprint -sha256 -subject

`certs/seal-ca.pem` and `certs/tsa-ca.pem` may hold several certificates; `openssl x509` prints
the first only, `cert_fps` (step 0) prints each. Subject names prove nothing: only fingerprints do.
`trust.json` is the vault's declaration of its sealing certificates and of the TSAs it runs
itself; whoever hands over a bundle can rewrite it, so it is no substitute for the published list.

{_block("anchors", body)}"""


def _export_step() -> str:
    m, seal, tsr, tsa = layout.MANIFEST, layout.MANIFEST_SEAL, layout.MANIFEST_TOKEN, layout.MANIFEST_TSA
    body = f"""step "2. {m}: sealed by the provider, timestamped"
if openssl cms -verify -binary -inform DER -in {seal} -content {m} \\
     -CAfile "$SEAL_CA" -purpose any -out /dev/null 2>/dev/null
then ok "{seal}: the provider's seal over {m}"; else bad "{seal}: the seal over {m} does not verify"; fi
fp=$(signer {seal})
if pinned "$fp" && names_signer {seal} "$fp"
then ok "{seal}: sealed by $fp"; else bad "{seal}: sealed by $fp, not a pinned sealing certificate"; fi
if openssl ts -verify -data {m} -in {tsr} -CAfile "$TSA_CA" -untrusted {tsa} >/dev/null 2>&1
then ok "{tsr}: timestamp over {m}, $(gen_time {tsr})"; else bad "{tsr}: the timestamp over {m} does not verify"; fi
passed"""
    return f"""
## 2. export.json: the provider's seal and a timestamp

`{m}` describes the bundle: the case, the selection, the anchors, every batch and item, and the
SHA-256 of every other file (`files`). `{seal}` is the provider's CMS seal over its exact bytes,
`{tsr}` an RFC 3161 timestamp over its SHA-256, signed with the TSA certificate `{tsa}`.
`{m}`, `{seal}`, `{tsr}` and `{tsa}` are the only files `{m}` does not list.

The seal check is the same as `openssl cms -verify` in a proof folder: the signature is over
these bytes and its certificate chains to `$SEAL_CA`. `-purpose any` turns off OpenSSL's
e-mail purpose check, which does not apply to a seal. OpenSSL does not check who, among the
certificates of that CA, sealed: the second check compares the signer with `SEAL_FPS` and with
the signingCertificateV2 attribute the signature covers (CAdES).

{_block("export", body)}"""


def _files_step() -> str:
    unlisted_files = sorted({*layout.UNLISTED, layout.SUMS})  # SHA256SUMS does not list itself
    n_unlisted = len(unlisted_files)
    unlisted = "|".join(unlisted_files)
    body = f"""step "3. every file is the one {layout.MANIFEST} lists"
h=$(sha256sum {layout.SUMS} | first)
if grep -q "\\"{layout.SUMS}\\":\\"$h\\"" {layout.MANIFEST}
then ok "{layout.SUMS} is the one {layout.MANIFEST} lists ($h)"
else bad "{layout.SUMS} is not the one {layout.MANIFEST} lists"; fi
if sha256sum --quiet -c {layout.SUMS}
then ok "every file of {layout.SUMS} is intact"; else bad "a file of {layout.SUMS} is missing or altered (above)"; fi
listed=$(grep -c '' {layout.SUMS}); present=0
for f in **; do [ -f "$f" ] && present=$((present + 1)); done
if [ "$present" -eq $((listed + {n_unlisted})) ]; then ok "no other file ($present files)"
else
  bad "$present files, {layout.SUMS} lists $listed (+ {n_unlisted}); not listed:"
  for f in **; do
    case $f in {unlisted}) continue ;; esac
    [ -f "$f" ] && ! grep -qF "  $f" {layout.SUMS} && echo "        $f"
  done
fi
passed"""
    return f"""
## 3. Every file is the one the vault wrote

`{layout.SUMS}` lists the SHA-256 of every file except itself and the four of step 2, in
`sha256sum` format. Its own SHA-256 is in `{layout.MANIFEST}` (`files`), which is sealed: so each
file it lists is the one the vault sealed, this `VERIFY.md` included. A file that is not listed
is not part of the bundle.

{_block("files", body)}"""


def _batch_example(export: dict[str, Any]) -> str:
    batches = export.get("batches") or []
    if not batches:
        return ""
    b = batches[0]
    d, root, at = b["dir"], b["root"], _seconds(str(b["timestamp"]))
    tsa = layout.tsa_cert(str(b["tsa_certificate"]))
    body = f"""step "4a. example: batch {b["seq"]}"
grep -o '"root":"{root}"' {d}/batch.json || bad "{d}: not the root export.json names"
openssl cms -verify -binary -inform DER -in {d}/seal.p7s -content {d}/batch.json \\
    -CAfile "$SEAL_CA" -purpose any -out /dev/null || bad "{d}: seal"
signer {d}/seal.p7s | grep -x '{b["seal_certificate"]}' || bad "{d}: not sealed by {b["seal_certificate"]}"
openssl ts -verify -digest {root} -in {d}/timestamp.tsr \\
    -CAfile "$TSA_CA" -untrusted {tsa} || bad "{d}: timestamp"
openssl ts -reply -in {d}/timestamp.tsr -text | grep -E '^(Time stamp|TSA):'
# the same two checks as of the token's time ({b["timestamp"]}, {at} seconds since 1970)
openssl cms -verify -binary -inform DER -in {d}/seal.p7s -content {d}/batch.json \\
    -CAfile "$SEAL_CA" -purpose any -attime {at} -out /dev/null 2>/dev/null || bad "{d}: seal at genTime"
openssl ts -verify -digest {root} -in {d}/timestamp.tsr -CAfile "$TSA_CA" \\
    -untrusted {tsa} -attime {at} >/dev/null 2>&1 || bad "{d}: timestamp at genTime"
passed"""
    return f"""For example, batch {b["seq"]} (`{d}`): root `{root}`, sealed by `{b["seal_certificate"]}`,
timestamped at {b["timestamp"]} by the TSA certificate `{b["tsa_certificate"]}`. Expected:
`CMS Verification successful`, the signer's fingerprint, `Verification: OK`, and the token's time.

{_block("batch-example", body)}
OpenSSL checks certificates at the current time. Once a sealing or TSA certificate has expired,
what matters is that it was valid at the token's time: add `-attime` with that time in seconds
(`date -u -d '<genTime>' +%s` with GNU date), as the last two commands do.

"""


def _batches_step(export: dict[str, Any]) -> str:
    body = """step "4. each batch: sealed by the provider, timestamped over its root"
for d in batches/*/; do
  d=${d%/}; seq=$((10#${d##*/})); root=$(field root "$d/batch.json")
  grep -q "\\"seq\\":$seq[,}]" "$d/batch.json" || bad "$d: its batch.json is not batch $seq"
  if openssl cms -verify -binary -inform DER -in "$d/seal.p7s" -content "$d/batch.json" \\
       -CAfile "$SEAL_CA" -purpose any -out /dev/null 2>/dev/null
  then ok "$d: seal over batch.json"; else bad "$d: the seal over batch.json does not verify"; fi
  fp=$(signer "$d/seal.p7s")
  if pinned "$fp" && names_signer "$d/seal.p7s" "$fp"
  then ok "$d: sealed by $fp"; else bad "$d: sealed by $fp, not a pinned sealing certificate"; fi
  if openssl ts -verify -digest "$root" -in "$d/timestamp.tsr" -CAfile "$TSA_CA" \\
       -untrusted <(cat certs/tsa/*.pem /dev/null) >/dev/null 2>&1
  then ok "$d: timestamp over root $root, $(gen_time "$d/timestamp.tsr")"
  else bad "$d: the timestamp over root $root does not verify"; fi
done
passed"""
    return f"""
## 4. Batches: sealed by the provider, timestamped over their root

The vault seals evidence in batches. A batch's `batch.json` names the `root` of a hash tree whose
leaves are its items (and journal entries); `seal.p7s` is the provider's CMS seal over
`batch.json`; `timestamp.tsr` an RFC 3161 token whose imprint is the root itself, so the TSA
certifies that every leaf existed at its time (`genTime`). The bundle holds every batch that
sealed an exported item or a destruction record.

{_batch_example(export)}For every batch, the same checks:

{_block("batches", body)}"""


def _chain_step(export: dict[str, Any]) -> str:
    chain = export.get("chain") or []
    batches = export.get("batches") or []
    if batches:
        between = (
            f"The bundle's batches go from {batches[0]['seq']} to {batches[-1]['seq']}; `chain/` holds the\n"
            f"`batch.json` of the {len(chain)} batch(es) in between that seal no exported item."
        )
    else:
        between = ""
    body = """step "5. the chain: each batch follows the one before"
declare -a ROOT=() PREV=()
for f in batches/*/batch.json chain/*.json; do
  s=$(grep -o '"seq":[0-9]*' "$f"); s=${s#*:}
  case $f in
    chain/*) n=${f#chain/}; [ "$((10#${n%.json}))" = "$s" ] || bad "$f: its batch.json is batch $s" ;;
  esac
  root=$(field root "$f"); prev=$(field previous_root "$f")
  if [ "$(field leaf "$f")" = "$prev" ] && [ "$(walk "$prev" "$f")" = "$root" ]
  then ok "batch $s: chain_path leads from previous_root $prev to root $root"
  else bad "batch $s: chain_path does not lead from previous_root to root"; fi
  ROOT[$s]=$root; PREV[$s]=$prev
done
last=
for s in "${!ROOT[@]}"; do
  if [ -n "$last" ]; then
    if [ "$s" -ne $((last + 1)) ]; then bad "batch $((last + 1)) is missing"
    elif [ "${PREV[$s]}" = "${ROOT[$last]}" ]; then ok "batch $s follows batch $last"
    else bad "batch $s does not follow batch $last: previous_root ${PREV[$s]} is not ${ROOT[$last]}"; fi
  fi
  last=$s
done
passed"""
    return f"""
## 5. The chain between batches

Leaf 0 of every batch's tree is the root of the batch before it (`previous_root`), and
`chain_path` in `batch.json` is its path to the root: the timestamp of batch N+1 therefore also
covers batch N, and a batch removed, replaced or reordered shows.

{between} Those are not sealed one by one: they are held in place by the sealed batch after
them, whose `previous_root` is their root. The first batch's `previous_root` names a batch
outside the bundle, which is not needed to check it.

{_block("chain", body)}"""


def _walk_example(item: dict[str, Any], batch: dict[str, Any] | None, example_path: dict[str, Any] | None) -> str:
    d, root = item["dir"], (batch or {}).get("root", "")
    lines = [f'step "6a. example: item {item["id"]}"', f"LEAF=$(sha256sum < {d}/evidence.json | first); echo $LEAF"]
    prose = ""
    if example_path and example_path.get("reduced_hash_tree"):
        leaf = str(example_path["leaf"])
        levels = [[str(v) for v in level] for level in example_path["reduced_hash_tree"]]
        lines.append(f'[ "$LEAF" = {leaf} ] || bad "{d}: evidence.json is not the leaf {leaf}"')
        current = leaf
        steps = []
        for i, level in enumerate(levels):
            values = level if i == 0 else [*level, current]
            if len(values) == 1:
                steps.append(f"- level {i}: `{current}` is alone at this level and is carried up unchanged")
                continue
            current = hash_node([bytes.fromhex(v) for v in values]).hex()
            joined = " ".join(sorted(values))
            lines.append(
                f"printf %s {joined} | xxd -r -p | openssl dgst -sha256 -r | grep '^{current} ' || bad \"level {i}\""
            )
            steps.append(f"- level {i}: sort and hash {len(values)} values, expect `{current}`")
        prose = (
            f"Its leaf is `{leaf}`.\nEach level below sorts the values (the smaller first), turns the hex\n"
            "into bytes with `xxd -r -p` and hashes them with SHA-256; the result joins the next level:\n\n"
            + "\n".join(steps)
            + "\n\n"
        )
    else:
        lines.append(f'grep -q "\\"leaf\\": *\\"$LEAF\\"" {d}/path.json || bad "{d}: path.json is for another leaf"')
        lines.append(f"path_values {d}/path.json    # the item's own hash and its sibling, then one value per level")
        lines.append(f'TRACE=1 walk "$LEAF" {d}/path.json    # each level: the two values, sorted, hashed')
    lines.append(f'[ "$(walk "$LEAF" {d}/path.json)" = {root} ] || bad "{d}: does not lead to root {root}"')
    if batch:
        here = f"{batch['dir']}/batch.json"
        lines.append(f'grep -o \'"root":"{root}"\' {here} || bad "{d}: not batch {batch["seq"]}"')
    lines.append("passed")
    where = f"batch {batch['seq']} (`{batch['dir']}`), root `{root}`" if batch else "its batch"
    return f"""For example, item `{item["id"]}` ({item.get("kind")}, session `{item.get("session")}`,
received {item.get("received_at")}) is sealed in {where}.
{prose}
{_block("item-example", chr(10).join(lines))}
"""


def _items_step(export: dict[str, Any], example_path: dict[str, Any] | None) -> str:
    items = export.get("items") or []
    batches = {b.get("seq"): b for b in export.get("batches") or []}
    example = _walk_example(items[0], batches.get(items[0].get("batch")), example_path) if items else ""
    body = """step "6. each item's evidence.json is sealed in a batch of the bundle"
for d in items/*/; do
  d=${d%/}; id=${d#items/}
  grep -q "\\"id\\":\\"$id\\"" "$d/evidence.json" && grep -q "\\"tenant\\":\\"$TENANT\\"" "$d/evidence.json" \\
    || bad "$id: evidence.json is not item $id of tenant $TENANT"
  leaf=$(sha256sum < "$d/evidence.json" | first)
  if b=$(sealed_batch "$(walk "$leaf" "$d/path.json")")
  then ok "$id: leaf $leaf, sealed in $b"
  else bad "$id: evidence.json (leaf $leaf) does not lead to the root of a batch of the bundle"; fi
done
passed"""
    return f"""
## 6. Items: each evidence.json is sealed in a batch

`items/<id>/evidence.json` is the item's sealed manifest: what was received, when, for which
session, and the digests of its content (step 7) and of its personal fields (step 8). Its SHA-256
is its **leaf** in the batch tree. `path.json` is the reduced hash tree (RFC 4998) from that leaf
to the batch root: a list of lists of hash values, the first holding the leaf and its sibling,
then one value per level. At each level, take the value obtained so far and the level's value,
sort them (ascending), concatenate their bytes and hash with SHA-256; the last result must be the
root in the batch's `batch.json`, which steps 4 and 5 checked. (A value alone at its level is
carried up unchanged and adds no list.)

{example}For every item (`walk` applies the rule; `sealed_batch` finds the batch with that root):

{_block("items", body)}"""


def _payload_example(item: dict[str, Any]) -> str:
    d, c = item["dir"], item.get("content") or {}
    if item.get("salted"):
        feed = f"xxd -r -p {d}/content-salt.hex | cat - {d}/payload"
        keys = ("salted_sha256", "salted_sha3-256")
    else:
        feed = f"cat {d}/payload"
        keys = ("sha256", "sha3-256")
    h2, h3 = c.get(keys[0]), c.get(keys[1])
    body = f"""step "7a. example: payload of item {item["id"]}"
{feed} | openssl dgst -sha256 -r | grep '^{h2} ' || bad "{d}: {keys[0]}"
{feed} | openssl dgst -sha3-256 -r | grep '^{h3} ' || bad "{d}: {keys[1]}"
grep -o '"content":{{[^}}]*}}' {d}/evidence.json | grep -F '"{keys[0]}":"{h2}"' || bad "{d}: not sealed"
passed"""
    return f"""For example, item `{item["id"]}`: `content.{keys[0]}` = `{h2}`,
`content.{keys[1]}` = `{h3}`, {c.get("size")} bytes.

{_block("payload-example", body)}
"""


def _payloads_step(export: dict[str, Any]) -> str:
    items = [i for i in export.get("items") or [] if i.get("payload")]
    example = _payload_example(items[0]) if items else ""
    body = """step "7. each payload has the digests sealed in its evidence.json"
for f in items/*/payload; do
  d=${f%/payload}
  if [ -f "$d/content-salt.hex" ]; then
    k=salted_; h2=$(xxd -r -p "$d/content-salt.hex" | cat - "$f" | openssl dgst -sha256 -r | first)
    h3=$(xxd -r -p "$d/content-salt.hex" | cat - "$f" | openssl dgst -sha3-256 -r | first)
  else
    k=; h2=$(openssl dgst -sha256 -r "$f" | first); h3=$(openssl dgst -sha3-256 -r "$f" | first)
  fi
  if grep -q "\\"content\\":{[^}]*\\"${k}sha256\\":\\"$h2\\"" "$d/evidence.json" \\
     && grep -q "\\"content\\":{[^}]*\\"${k}sha3-256\\":\\"$h3\\"" "$d/evidence.json"
  then ok "$f: ${k}sha256 $h2"; else bad "$f: its ${k}sha256 $h2 is not the one sealed in evidence.json"; fi
done
passed"""
    return f"""
## 7. Payloads: the files are the ones sealed

`items/<id>/payload` is the deposited file (documents, logs, recordings, transaction proofs). Its
digests are in `evidence.json` (`content`): `sha256` and `sha3-256` of the file, or, for an item
the data subject may have erased (`vault-evidence/2`), `salted_sha256` and `salted_sha3-256` of a
random salt followed by the file, so that nobody can confirm a guess of the content once the salt
is destroyed. The salt is disclosed here, in hex, in `content-salt.hex`: `xxd -r -p` turns it into
bytes. Records (`connection_metadata`, `correction`) have no payload: their content is the list of
all their fields' disclosures, which would reveal every field; step 8 checks the disclosed ones.
Destroyed items have no payload either (step 9).

{example}For every payload:

{_block("payloads", body)}"""


def _disclosure_example(item: dict[str, Any]) -> str:
    d = item["dir"]
    body = f"""step "8a. example: disclosures of item {item["id"]}"
cat {d}/disclosures.json
for x in $(grep -o '"[A-Za-z0-9_-]\\{{20,\\}}"' {d}/disclosures.json); do
  x=${{x//\\"/}}
  echo "disclosure: $x"
  echo "decoded:    $(unb64url "$x")"
  echo "sha256:     $(printf %s "$x" | sha256sum | first)"
done
grep -o '"commitments":{{[^}}]*}}' {d}/evidence.json
passed"""
    fields = ", ".join(f"`{f}`" for f in item.get("disclosed") or [])
    withheld = ", ".join(f"`{f}`" for f in item.get("withheld") or []) or "none"
    return f"""For example, item `{item["id"]}` discloses {fields}; withheld (digests only): {withheld}.
Each `sha256` printed must be the commitment of the field named in the decoded array.

{_block("disclosure-example", body)}
"""


def _disclosures_step(export: dict[str, Any]) -> str:
    items = [i for i in export.get("items") or [] if i.get("disclosed")]
    example = _disclosure_example(items[0]) if items else ""
    body = """step "8. each disclosed field matches its sealed commitment"
for f in items/*/disclosures.json; do
  d=${f%/disclosures.json}
  for x in $(grep -o '"[A-Za-z0-9_-]\\{20,\\}"' "$f"); do
    x=${x//\\"/}; t=$(unb64url "$x"); h=$(printf %s "$x" | sha256sum | first); name=
    [[ $t =~ ^\\[\\"[^\\"]*\\",\\"([^\\"]*)\\", ]] && name=${BASH_REMATCH[1]}
    if [ -n "$name" ] && grep -q "\\"commitments\\":{[^}]*\\"$name\\":\\"$h\\"" "$d/evidence.json"
    then ok "${d#items/}: $t"; else bad "${d#items/}: $t does not match the commitment sealed in evidence.json"; fi
    grep -q "\\"disclosed_fields\\":\\[[^]]*\\"$name\\"" export.json \\
      || bad "${d#items/}: field $name is disclosed but export.json does not declare it"
  done
done
passed"""
    return f"""
## 8. Disclosed personal fields

`evidence.json` keeps personal fields (IP address, user, device...) only as salted commitments
(`commitments`: field name and SHA-256). A **disclosure** reveals one field: it is the base64url
(no padding) of the JSON array `[salt, name, value]`, and its SHA-256, taken over the disclosure
string exactly as written, is the field's commitment. `items/<id>/disclosures.json` holds the
disclosures of the fields this export discloses (`disclosed_fields` in `export.json`), and only
those; every other field stays a digest, which reveals nothing without its salt.

{example}For every disclosure:

{_block("disclosures", body)}"""


def _destroyed_step(export: dict[str, Any]) -> str:
    items = [i for i in export.get("items") or [] if i.get("state") == "destroyed"]
    if items:
        i = items[0]
        x = i.get("destruction") or {}
        example = (
            f"For example, item `{i['id']}` was destroyed at {x.get('at')} under the rule "
            f"\u201c{x.get('rule')}\u201d (journal entry `{x.get('record')}`, sealed in batch {x.get('batch')}).\n\n"
        )
    else:
        example = "This bundle holds no destroyed item; the step checks nothing.\n\n"
    body = """step "9. each destroyed item: its sealed destruction record"
for f in items/*/destruction.json; do
  d=${f%/destruction.json}; id=${d#items/}
  leaf=$(sha256sum < "$d/evidence.json" | first); rec=$(sha256sum < "$f" | first)
  if grep -Eq "\\"id\\":\\"$id\\",\\"kind\\":\\"[^\\"]*\\",\\"leaf\\":\\"$leaf\\"|\\"erased\\":\\[[^]]*\\"$id\\"" "$f"
  then ok "$id: $(grep -o '"action":"[^"]*"' "$f"), $(grep -o '"at":"[^"]*"' "$f")"
  else bad "$id: its destruction.json does not name it"; fi
  if [ ! -f "$d/destruction-path.json" ]; then echo "note    $id: the record awaits its batch (not sealed yet)"
  elif b=$(sealed_batch "$(walk "$rec" "$d/destruction-path.json")"); then ok "$id: record $rec sealed in $b"
  else bad "$id: the record (leaf $rec) does not lead to the root of a batch of the bundle"; fi
done
passed"""
    return f"""
## 9. Destroyed items

An item destroyed under the retention policy, or erased at the data subject's request, has no
payload any more, but its proof of existence stays: its `evidence.json` and `path.json` (step 6),
and `destruction.json`, the vault's journal entry that records the destruction. That entry is
sealed like evidence: its SHA-256 is a leaf, and `destruction-path.json` leads it to the root of
a batch of the bundle. A retention record (`"action":"destroy"`) names the item with the leaf of
its `evidence.json`; an erasure record (`"action":"subject_erase"`) names it in `erased`.

{example}{_block("destroyed", body)}"""


FAILURES = (
    ("`export.p7s`, `export.tsr`", "`export.json` was changed after the export, or the seal or token was made "
     "with a certificate your anchors do not vouch for"),
    ("`sealed by ..., not a pinned sealing certificate`", "the seal is not by the provider's sealing "
     "certificate (`SEAL_FPS`), even if the CA accepts it"),
    ("`SHA256SUMS`", "a file was changed, added or removed after the export (`sha256sum` names it)"),
    ("batch: seal", "`batch.json` was changed, or the seal is not the provider's"),
    ("batch: `is not batch N`", "batch folders were renamed or swapped"),
    ("batch: timestamp", "the token is over another root (a batch or token swapped), or not from a TSA your "
     "anchors vouch for, or a certificate has expired since: retry with `-attime` (step 4)"),
    ("chain", "a batch is missing, replaced or out of order"),
    ("item", "`evidence.json` or `path.json` was changed, or the item is not in this bundle's batches"),
    ("payload", "the file (or its salt) is not the one deposited"),
    ("disclosure", "the disclosed value was changed: it is not the one committed to at deposit"),
    ("destroyed item", "the destruction record was changed, names another item, or is not sealed"),
)  # fmt: skip


def _failures() -> str:
    return "| check | the usual cause |\n| --- | --- |\n" + "\n".join(f"| {a} | {b} |" for a, b in FAILURES)


def _verdict() -> str:
    body = """if [ "$FAILS" = 0 ]; then echo "VALID: every check passed"
else echo "INVALID: $FAILS check(s) failed"; fi
[ "$FAILS" = 0 ]"""
    return f"""
## 10. Verdict

{_block("verdict", body)}
`VALID` with anchors you obtained yourself (step 1) means: every file is the one the provider
sealed in `export.json`; every item's manifest was sealed in a batch the provider sealed and a
TSA timestamped, at the time the token shows; the batches follow each other; every payload and
every disclosed field is the one those manifests describe; every destroyed item's destruction was
recorded and sealed. With the bundle's own anchors it means only that the bundle is consistent.

Not checked here: revocation of the certificates (no CRL or OCSP response is collected); that
each item was received and each batch made before its token's time (`received_at` in
`evidence.json`, `created_at` in `batch.json`: compare them with the `genTime` printed in step 4;
`vault verify --bundle` allows 5 minutes of clock difference); certificates at the token's time
rather than today, unless you add `-attime` (step 4).

## What a failure means

{_failures()}

Nothing in the bundle can make up for a failed check; the vault's own verifier
(`vault verify --bundle FILE.zip`) reports the same checks by name.
"""


def export_verify_md(export: dict[str, Any], *, example_path: dict[str, Any] | None = None) -> str:
    """VERIFY.md for an export bundle. ``export`` is ``export.json`` as written (``files`` may
    lack ``VERIFY.md`` and ``SHA256SUMS``: the page never quotes them); ``example_path`` is
    the ``path.json`` object of ``export["items"][0]``, for a worked path walk with literal
    values (without it the example prints each level as it computes it)."""
    return "".join(
        [
            _header(export),
            _setup(export),
            _anchors_step(export),
            _export_step(),
            _files_step(),
            _batches_step(export),
            _chain_step(export),
            _items_step(export, example_path),
            _payloads_step(export),
            _disclosures_step(export),
            _destroyed_step(export),
            _verdict(),
        ]
    )
