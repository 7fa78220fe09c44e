package broker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/broker/acl"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// policyStore keeps ACL policies in the database and a parsed copy of all of
// them in memory, re-read every refresh (changes made on other nodes) and at
// once after a local change. A token's policy names never change, but their
// contents are re-read, as in Vault: a deleted policy acts as an empty one.
type policyStore struct {
	db      *store.DB
	now     func() time.Time
	refresh time.Duration

	mu     sync.Mutex
	loaded time.Time
	parsed map[string]*acl.Policy
	text   map[string]string
	acls   map[string]*acl.ACL // by sorted, joined policy names
}

func (p *policyStore) load(ctx context.Context) error {
	if p.parsed != nil && p.now().Sub(p.loaded) < p.refresh {
		return nil
	}
	rows, err := p.db.Query(ctx, `SELECT name, policy FROM broker_policies`)
	if err != nil {
		return fmt.Errorf("broker: load policies: %w", err)
	}
	defer rows.Close()
	parsed, text := map[string]*acl.Policy{}, map[string]string{}
	for rows.Next() {
		var name, body string
		if err := rows.Scan(&name, &body); err != nil {
			return err
		}
		pol, err := acl.Parse(name, body)
		if err != nil {
			// Stored policies were parsed when written; one that no longer
			// parses grants nothing rather than stopping every request.
			continue
		}
		parsed[name], text[name] = pol, body
	}
	if err := rows.Err(); err != nil {
		return err
	}
	p.parsed, p.text, p.acls, p.loaded = parsed, text, map[string]*acl.ACL{}, p.now()
	return nil
}

// missReload bounds how often an unknown policy name makes a node read
// the policies again.
const missReload = 100 * time.Millisecond

func (p *policyStore) invalidate() {
	p.mu.Lock()
	p.parsed = nil
	p.mu.Unlock()
}

// acl returns the ACL for a token's policy names.
func (p *policyStore) acl(ctx context.Context, names []string) (*acl.ACL, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.load(ctx); err != nil {
		return nil, err
	}
	// A policy this node has not seen was likely written on another node
	// since its last refresh (a run token's, issued a moment ago there):
	// read again now rather than deny until the next refresh. Bounded, so
	// a token naming a deleted policy cannot make every request a reload.
	for _, n := range names {
		if _, ok := p.parsed[n]; !ok && n != "root" && p.now().Sub(p.loaded) >= missReload {
			p.parsed = nil
			if err := p.load(ctx); err != nil {
				return nil, err
			}
			break
		}
	}
	key := strings.Join(names, "\x00")
	if a, ok := p.acls[key]; ok {
		return a, nil
	}
	var pols []*acl.Policy
	for _, n := range names {
		if pol, ok := p.parsed[n]; ok {
			pols = append(pols, pol)
		}
	}
	a := acl.New(pols...)
	if len(p.acls) > 10000 { // bound the cache; it refills on demand
		p.acls = map[string]*acl.ACL{}
	}
	p.acls[key] = a
	return a, nil
}

// ensureDefault writes the built-in default policy if it was never written.
func (p *policyStore) ensureDefault(ctx context.Context) error {
	_, err := p.db.Exec(ctx, `INSERT INTO broker_policies (name, policy, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, "default", acl.DefaultPolicy, store.Nanos(p.now()))
	p.invalidate()
	return err
}

func (p *policyStore) get(ctx context.Context, name string) (string, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.load(ctx); err != nil {
		return "", false, err
	}
	t, ok := p.text[name]
	return t, ok, nil
}

func (p *policyStore) names(ctx context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.load(ctx); err != nil {
		return nil, err
	}
	out := []string{"root"}
	for n := range p.text {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func (p *policyStore) put(ctx context.Context, name, body string) error {
	name = acl.NormalizeName(name)
	if name == "root" {
		return fail.Invalidf(`cannot update "root" policy`)
	}
	if name == "" {
		return fail.Invalidf("policy name must be provided in the URL")
	}
	pol, err := acl.Parse(name, body)
	if err != nil {
		return err
	}
	if pol.UsesWrapping() {
		return fail.Invalidf("min_wrapping_ttl and max_wrapping_ttl need response wrapping, which runcred does not support")
	}
	_, err = p.db.Exec(ctx, `INSERT INTO broker_policies (name, policy, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`, name, body, store.Nanos(p.now()))
	p.invalidate()
	return err
}

func (p *policyStore) remove(ctx context.Context, name string) error {
	name = acl.NormalizeName(name)
	switch name {
	case "root":
		return fail.Invalidf(`cannot delete "root" policy`)
	case "default":
		return fail.Invalidf(`cannot delete "default" policy`)
	}
	_, err := p.db.Exec(ctx, `DELETE FROM broker_policies WHERE name = ?`, name)
	p.invalidate()
	return err
}

// normalizePolicies lower-cases and trims policy names, removes duplicates,
// adds "default" unless told not to, and refuses "root" in company (a root
// token holds root alone).
func normalizePolicies(in []string, addDefault bool) ([]string, error) {
	var out []string
	for _, n := range in {
		n = acl.NormalizeName(n)
		if n == "" || slices.Contains(out, n) {
			continue
		}
		out = append(out, n)
	}
	if addDefault && !slices.Contains(out, "default") && !slices.Contains(out, "root") {
		out = append(out, "default")
	}
	sort.Strings(out)
	if slices.Contains(out, "root") && len(out) > 1 {
		return nil, fail.Invalidf("other policies cannot be combined with the root policy")
	}
	return out, nil
}
