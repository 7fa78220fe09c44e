package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/secret"
)

type identityData struct {
	Keys      []identity.KeyInfo
	Discovery identity.Discovery
}

func (u *UI) identity(w http.ResponseWriter, r *http.Request, v *view) error {
	keys, err := u.cfg.Issuer.Keys(r.Context())
	if err != nil {
		return err
	}
	v.Title, v.Nav, v.Data = "Identity", "identity", identityData{Keys: keys, Discovery: u.cfg.Issuer.Discovery()}
	u.pages.render(w, http.StatusOK, "identity", v)
	return nil
}

// brokerSection is one part of the broker page: what the broker answered
// the session's token on one of its sys/ paths, or why it did not.
type brokerSection struct {
	Items  []brokerItem
	Denied bool
}

type brokerItem struct {
	Name   string
	Detail string
}

type brokerData struct {
	Mounts, Auth, Policies, Leases brokerSection
	MayRevoke                      bool
}

// sys asks the broker, with the session's own token, what its Vault API
// answers on path: the same pipeline (ACL, audit) as a Vault client.
func (u *UI) sys(r *http.Request, tok secret.Value, op engine.Operation, path string, data map[string]any) (*broker.Response, error) {
	return u.cfg.Broker.Handle(r.Context(), &broker.Request{Operation: op, Path: path, Token: tok, Data: data,
		RemoteAddr: remoteAddr(r)})
}

func (u *UI) broker(w http.ResponseWriter, r *http.Request, v *view) error {
	tok := v.session.token
	var d brokerData
	sectionOp := func(op engine.Operation, path string, fn func(map[string]any) []brokerItem) brokerSection {
		resp, err := u.sys(r, tok, op, path, nil)
		if err != nil || resp == nil {
			return brokerSection{Denied: true}
		}
		items := fn(resp.Data)
		slices.SortFunc(items, func(a, b brokerItem) int { return strings.Compare(a.Name, b.Name) })
		return brokerSection{Items: items}
	}
	section := func(path string, fn func(map[string]any) []brokerItem) brokerSection {
		return sectionOp(engine.Read, path, fn)
	}
	described := func(m map[string]any) []brokerItem {
		var out []brokerItem
		for k, x := range m {
			e, _ := x.(map[string]any)
			typ, _ := e["type"].(string)
			desc, _ := e["description"].(string)
			out = append(out, brokerItem{Name: k, Detail: strings.TrimSpace(typ + " " + desc)})
		}
		return out
	}
	d.Mounts = section("sys/mounts", described)
	d.Auth = section("sys/auth", described)
	d.Policies = sectionOp(engine.List, "sys/policies/acl", func(m map[string]any) []brokerItem {
		var out []brokerItem
		keys, _ := m["keys"].([]string)
		if keys == nil {
			for _, k := range asSlice(m["keys"]) {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			body := ""
			if resp, err := u.sys(r, tok, engine.Read, "sys/policies/acl/"+k, nil); err == nil && resp != nil {
				body, _ = resp.Data["policy"].(string)
			}
			out = append(out, brokerItem{Name: k, Detail: body})
		}
		return out
	})
	var prefixes []string
	for _, m := range d.Mounts.Items {
		if m.Name != "sys/" && m.Name != "cubbyhole/" && m.Name != "identity/" {
			prefixes = append(prefixes, m.Name)
		}
	}
	for _, m := range d.Auth.Items {
		prefixes = append(prefixes, "auth/"+m.Name)
	}
	d.Leases = u.leases(r, tok, prefixes)
	d.Leases.Denied = d.Leases.Denied || d.Mounts.Denied && d.Auth.Denied
	// The revoke buttons only for a token the broker would let revoke.
	d.MayRevoke = u.cfg.Broker.Authorize(r.Context(), "sys/leases/revoke", access.Update) == nil
	v.Title, v.Nav, v.Data = "Broker", "broker", d
	u.pages.render(w, http.StatusOK, "broker", v)
	return nil
}

// leases lists the live leases under each mount's prefix, as Vault's
// LIST sys/leases/lookup/<prefix> does (a sudo path): denied when the
// caller may list none of them.
func (u *UI) leases(r *http.Request, tok secret.Value, prefixes []string) brokerSection {
	var out brokerSection
	denied, asked := 0, 0
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		asked++
		resp, err := u.sys(r, tok, engine.List, "sys/leases/lookup/"+prefix, nil)
		if err != nil || resp == nil {
			if fail.KindOf(err) == fail.Denied {
				denied++
			}
			return
		}
		for _, k := range asSlice(resp.Data["keys"]) {
			if strings.HasSuffix(k, "/") {
				if depth < 8 {
					walk(prefix+k, depth+1)
				}
				continue
			}
			id := prefix + k
			item := brokerItem{Name: id}
			if l, err := u.sys(r, tok, engine.Update, "sys/leases/lookup", map[string]any{"lease_id": id}); err == nil && l != nil {
				exp, _ := l.Data["expire_time"].(string)
				item.Detail = "expires " + exp
			}
			out.Items = append(out.Items, item)
		}
	}
	for _, p := range prefixes {
		walk(p, 0)
	}
	out.Denied = asked > 0 && denied == asked
	return out
}

func (u *UI) revokeLease(w http.ResponseWriter, r *http.Request, v *view) error {
	id := r.PostFormValue("lease_id")
	if _, err := u.sys(r, v.session.token, engine.Update, "sys/leases/revoke", map[string]any{"lease_id": id}); err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"broker", http.StatusSeeOther)
	return nil
}

func asSlice(x any) []string {
	switch s := x.(type) {
	case []string:
		return s
	case []any:
		var out []string
		for _, e := range s {
			if str, ok := e.(string); ok {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}
