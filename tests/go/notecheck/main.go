// notecheck: an independent checker of the vault's signed checkpoints and proofs, built only
// on golang.org/x/mod/sumdb/note (C2SP signed notes) and golang.org/x/mod/sumdb/tlog (RFC 6962
// proofs). Nothing here comes from the vault's own code.
//
//	notecheck note VKEY NOTE                          a checkpoint signed by the key VKEY
//	notecheck consistency VKEY OLD NEW PROOF          NEW extends OLD (tlog.CheckTree)
//	notecheck inclusion VKEY NOTE DATA INDEX PROOF    leaf INDEX with data DATA is under NOTE (tlog.CheckRecord)
//	notecheck sign SKEY TEXT                          sign TEXT with a signer key (note.Sign)
//
// VKEY, SKEY, NOTE, OLD, NEW, DATA and TEXT are files; PROOF is a JSON file with a "proof"
// array of base64 hashes (as GET /v1/consistency and GET /v1/inclusion return it). Prints
// "OK ..." and exits 0, or "FAIL: reason" and exits 1 (2: usage or unreadable input).
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func read(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "notecheck:", err)
		os.Exit(2)
	}
	return data
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// open checks the note's signature with the verifier key and parses the C2SP checkpoint body.
func open(vkeyFile, noteFile string) checkpoint {
	v, err := note.NewVerifier(strings.TrimSpace(string(read(vkeyFile))))
	if err != nil {
		fmt.Fprintln(os.Stderr, "notecheck: verifier key:", err)
		os.Exit(2)
	}
	n, err := note.Open(read(noteFile), note.VerifierList(v))
	if err != nil {
		fail("%s: %v", noteFile, err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 || lines[0] == "" {
		fail("%s: not a checkpoint (origin, size, root hash)", noteFile)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("%s: bad tree size %q", noteFile, lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		fail("%s: bad root hash %q", noteFile, lines[2])
	}
	var root tlog.Hash
	copy(root[:], raw)
	return checkpoint{lines[0], size, root}
}

func proof(path string) []tlog.Hash {
	var doc struct {
		Proof []string `json:"proof"`
	}
	if err := json.Unmarshal(read(path), &doc); err != nil {
		fmt.Fprintln(os.Stderr, "notecheck: proof:", err)
		os.Exit(2)
	}
	hashes := make([]tlog.Hash, len(doc.Proof))
	for i, s := range doc.Proof {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(raw) != tlog.HashSize {
			fail("proof hash %d is not a base64 SHA-256", i)
		}
		copy(hashes[i][:], raw)
	}
	return hashes
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: notecheck note|consistency|inclusion|sign ...")
		os.Exit(2)
	}
	switch {
	case args[0] == "note" && len(args) == 3:
		c := open(args[1], args[2])
		fmt.Printf("OK %s %d %s\n", c.origin, c.size, c.root)
	case args[0] == "consistency" && len(args) == 5:
		old, cur := open(args[1], args[2]), open(args[1], args[3])
		if old.origin != cur.origin {
			fail("origins differ: %q and %q", old.origin, cur.origin)
		}
		if err := tlog.CheckTree(tlog.TreeProof(proof(args[4])), cur.size, cur.root, old.size, old.root); err != nil {
			fail("size %d -> %d: %v", old.size, cur.size, err)
		}
		fmt.Printf("OK %s %d extends %d\n", cur.origin, cur.size, old.size)
	case args[0] == "inclusion" && len(args) == 6:
		c := open(args[1], args[2])
		index, err := strconv.ParseInt(args[4], 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "notecheck: bad index", args[4])
			os.Exit(2)
		}
		leaf := tlog.RecordHash(read(args[3]))
		if err := tlog.CheckRecord(tlog.RecordProof(proof(args[5])), c.size, c.root, index, leaf); err != nil {
			fail("leaf %d under size %d: %v", index, c.size, err)
		}
		fmt.Printf("OK %s leaf %d under %d\n", c.origin, index, c.size)
	case args[0] == "sign" && len(args) == 3:
		s, err := note.NewSigner(strings.TrimSpace(string(read(args[1]))))
		if err != nil {
			fail("signer key: %v", err)
		}
		msg, err := note.Sign(&note.Note{Text: string(read(args[2]))}, s)
		if err != nil {
			fail("sign: %v", err)
		}
		os.Stdout.Write(msg)
	default:
		fmt.Fprintln(os.Stderr, "usage: notecheck note|consistency|inclusion|sign ...")
		os.Exit(2)
	}
}
