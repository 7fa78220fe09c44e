package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
)

// hashDomain versions the encoding below; a change to it needs a new value.
const hashDomain = "runcred audit record v1"

// chainHash is hex(SHA-256) over the length-prefixed domain, prev_hash, seq,
// time (unix nanoseconds), type and body, so that no field can be shifted
// into its neighbour.
func (r Record) chainHash() string {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	int64Field := func(v int64) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(v))
		field(b[:])
	}
	field([]byte(hashDomain))
	field([]byte(r.PrevHash))
	int64Field(r.Seq)
	int64Field(r.Time.UnixNano())
	field([]byte(r.Type))
	field(r.Body)
	return hex.EncodeToString(h.Sum(nil))
}

// Report is the result of Verify.
type Report struct {
	Records int64  `json:"records"` // records read
	Head    string `json:"head"`    // hash of the last record (genesis value when empty); anchor it elsewhere to detect truncation
	Broken  *Break `json:"broken"`  // nil when the chain is intact
}

// Break locates the first point where the chain does not hold. Every record
// before Seq is vouched for by the chain; Seq itself is not. A broken link
// between two records is reported at the earlier one, since either may have
// been rewritten.
type Break struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// Verify reads the whole log in seq order, a page at a time, recomputing each
// hash and link. A broken chain is reported in Report.Broken, not as an error;
// errors mean the log could not be read.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	rep := Report{Head: genesisHash}
	var prev *Record
	after := int64(math.MinInt64) // also read any stray seq <= 0
	for {
		recs, err := l.List(ctx, after, l.page)
		if err != nil {
			return Report{}, fmt.Errorf("audit: verify: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			r := &recs[i]
			rep.Records++
			if rep.Broken == nil {
				rep.Broken = check(prev, r)
			}
			prev = r
		}
		after = prev.Seq
	}
	if prev != nil {
		rep.Head = prev.Hash
	}
	return rep, nil
}

// check tests r against its predecessor prev (nil for the first record).
// It is a chain of ifs rather than a tagless switch because Go's coverage
// profile has no block for a case's condition, and mutation testing would
// skip every condition here as "not covered".
func check(prev, r *Record) *Break {
	want, wantPrev := int64(1), genesisHash
	if prev != nil {
		want, wantPrev = prev.Seq+1, prev.Hash
	}
	if r.Seq == want+1 {
		return &Break{want, fmt.Sprintf("record %d is missing", want)}
	}
	if r.Seq > want {
		return &Break{want, fmt.Sprintf("records %d to %d are missing", want, r.Seq-1)}
	}
	if r.Seq < want {
		return &Break{r.Seq, fmt.Sprintf("record %d is out of sequence (expected %d)", r.Seq, want)}
	}
	if r.PrevHash != wantPrev && prev == nil {
		return &Break{r.Seq, "the first record's prev_hash is not the genesis value"}
	}
	if r.PrevHash != wantPrev {
		return &Break{prev.Seq, fmt.Sprintf("record %d's hash is not the prev_hash of record %d: one of them was rewritten", prev.Seq, r.Seq)}
	}
	if r.Hash != r.chainHash() {
		return &Break{r.Seq, fmt.Sprintf("record %d's hash does not match its contents (type, time or body edited)", r.Seq)}
	}
	return nil
}
