package configarchive

import (
	"context"
	"path"
	"slices"
	"strings"

	"github.com/runcred/runcred/internal/fail"
)

type kind uint8

const (
	dir kind = iota
	file
	link
)

// node is one path of the configuration.
type node struct {
	kind     kind
	size     int64    // file
	target   string   // link: its target, clean and relative to the root
	children []string // dir: names of its entries, in archive order
	// link, once resolved: the path, free of links, that it leads to, and
	// how many links that took.
	real     string
	depth    int
	resolved bool
	visiting bool
}

// tree is the configuration as the archive describes it.
type tree struct {
	nodes map[string]*node
	links []string // in archive order
}

func newTree() *tree { return &tree{nodes: map[string]*node{".": {kind: dir}}} }

// addDir adds a directory; a directory named twice is one directory.
func (t *tree) addDir(r *reading, name string) error {
	if n, ok := t.nodes[name]; ok && n.kind == dir {
		return nil
	}
	return t.add(r, name, &node{kind: dir})
}

// add adds n at name, and the directories name implies, giving each new
// directory to the sink. A name already taken, or below a file or a link,
// is refused: the copy of a link is made where the link is, and must not
// land on or under anything else.
func (t *tree) add(r *reading, name string, n *node) error {
	if _, ok := t.nodes[name]; ok {
		return fail.Invalidf("configuration entry %q is in the archive twice", fail.Clip(name))
	}
	parent := path.Dir(name)
	p, ok := t.nodes[parent]
	if !ok {
		if err := t.add(r, parent, &node{kind: dir}); err != nil {
			return err
		}
		p = t.nodes[parent]
	}
	if p.kind != dir {
		return fail.Invalidf("configuration entry %q lies under a file or a link", fail.Clip(name))
	}
	r.st.Steps++
	t.nodes[name] = n
	p.children = append(p.children, path.Base(name))
	switch n.kind {
	case dir:
		if err := r.count(1, 0); err != nil {
			return err
		}
		return r.sink.Dir(name)
	case link:
		t.links = append(t.links, name)
	}
	return nil
}

// resolve returns the path, free of links, that p leads to, and how many
// links that followed. Each link is resolved once and remembered, so
// resolving every link of the archive is linear in its size.
// Errors name the link being resolved.
func (t *tree) resolve(r *reading, p, from string) (string, int, error) {
	real, depth := ".", 0
	if p == "." {
		return real, 0, nil
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		r.st.Steps++
		next := seg
		if real != "." {
			next = real + "/" + seg
		}
		n, ok := t.nodes[next]
		if !ok {
			return "", 0, fail.Invalidf("configuration link %q: its target %q is not in the configuration", fail.Clip(from), fail.Clip(p))
		}
		if n.kind == link {
			if err := t.resolveLink(r, next); err != nil {
				return "", 0, err
			}
			if depth += n.depth; depth > r.lim.LinkDepth {
				return "", 0, fail.Invalidf("configuration link %q follows more than %d links", fail.Clip(from), r.lim.LinkDepth)
			}
			next = n.real
		}
		if i < len(segs)-1 && t.nodes[next].kind != dir {
			return "", 0, fail.Invalidf("configuration link %q: its target %q goes through a file", fail.Clip(from), fail.Clip(p))
		}
		real = next
	}
	return real, depth, nil
}

// resolveLink resolves the link at name, once.
func (t *tree) resolveLink(r *reading, name string) error {
	n := t.nodes[name]
	switch {
	case n.resolved:
		return nil
	case n.visiting:
		return fail.Invalidf("configuration links %q and others form a cycle", fail.Clip(name))
	}
	n.visiting = true
	real, depth, err := t.resolve(r, n.target, name)
	n.visiting = false
	if err != nil {
		return err
	}
	n.real, n.depth, n.resolved = real, depth+1, true
	if n.depth > r.lim.LinkDepth {
		return fail.Invalidf("configuration link %q follows more than %d links", fail.Clip(name), r.lim.LinkDepth)
	}
	return nil
}

// expand makes each link a copy of what it leads to.
func (t *tree) expand(ctx context.Context, r *reading) error {
	for _, name := range t.links {
		if err := t.resolveLink(r, name); err != nil {
			return err
		}
	}
	for _, name := range t.links {
		if err := t.copyLink(ctx, r, name, name, nil); err != nil {
			return err
		}
	}
	return nil
}

// copyLink makes dst a copy of what link name leads to. stack holds the
// directories being copied around this one: a link that leads to one of
// them, or to a directory holding one, would copy itself forever.
func (t *tree) copyLink(ctx context.Context, r *reading, name, dst string, stack []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := t.nodes[name]
	real := n.real
	m := t.nodes[real]
	if m.kind == file {
		if err := r.count(1, m.size); err != nil {
			return err
		}
		r.st.Steps++
		return r.sink.Copy(real, dst, m.size)
	}
	if stack == nil && (real == "." || name == real || strings.HasPrefix(name, real+"/")) {
		return fail.Invalidf("configuration link %q to %q: a link inside its own target", fail.Clip(name), fail.Clip(n.target))
	}
	if slices.ContainsFunc(stack, func(s string) bool { return s == real || real == "." || strings.HasPrefix(s, real+"/") }) {
		return fail.Invalidf("configuration links %q and others form a cycle", fail.Clip(name))
	}
	if len(stack) >= r.lim.LinkDepth {
		return fail.Invalidf("configuration link %q: links nested more than %d deep", fail.Clip(name), r.lim.LinkDepth)
	}
	return t.copyDir(ctx, r, real, dst, append(stack, real))
}

// copyDir copies directory src, links inside it expanded, to dst.
func (t *tree) copyDir(ctx context.Context, r *reading, src, dst string, stack []string) error {
	if err := r.count(1, 0); err != nil {
		return err
	}
	r.st.Steps++
	if err := r.sink.Dir(dst); err != nil {
		return err
	}
	for _, c := range t.nodes[src].children {
		if err := ctx.Err(); err != nil {
			return err
		}
		from, to := path.Join(src, c), dst+"/"+c
		switch n := t.nodes[from]; n.kind {
		case file:
			if err := r.count(1, n.size); err != nil {
				return err
			}
			r.st.Steps++
			if err := r.sink.Copy(from, to, n.size); err != nil {
				return err
			}
		case dir:
			if err := t.copyDir(ctx, r, from, to, stack); err != nil {
				return err
			}
		case link:
			if err := t.copyLink(ctx, r, from, to, stack); err != nil {
				return err
			}
		}
	}
	return nil
}
