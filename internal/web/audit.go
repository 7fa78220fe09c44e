package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/fail"
)

// auditPath is what the audit log's readers need, as for its API.
const auditPath = "runcred/audit"

// maxShown bounds the records one audit page lists (the newest matches).
const maxShown = 200

// scanAudit reads the whole log in order, a page at a time, and keeps the
// last limit records keep accepts. The caller must have been authorized.
func (u *UI) scanAudit(ctx context.Context, keep func(audit.Record) bool, limit int) ([]audit.Record, error) {
	var out []audit.Record
	after := int64(0)
	for {
		recs, err := u.cfg.Audit.List(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			if keep(rec) {
				out = append(out, rec)
				if len(out) > limit {
					out = out[1:]
				}
			}
		}
		if len(recs) < 1000 {
			return out, nil
		}
		after = recs[len(recs)-1].Seq
	}
}

type auditFilter struct {
	Run, Workspace, Event, Since, Until string
}

type auditData struct {
	Filter  auditFilter
	Records []auditRow
	Report  audit.Report
	Error   string
}

type auditRow struct {
	audit.Record
	Pretty string
}

func (u *UI) audit(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx := r.Context()
	if err := u.cfg.Broker.Authorize(ctx, auditPath, access.Read); err != nil {
		return err
	}
	q := r.URL.Query()
	f := auditFilter{Run: strings.TrimSpace(q.Get("run")), Workspace: strings.TrimSpace(q.Get("workspace")),
		Event: strings.TrimSpace(q.Get("event")), Since: q.Get("since"), Until: q.Get("until")}
	d := auditData{Filter: f}
	since, err1 := parseTime(f.Since)
	until, err2 := parseTime(f.Until)
	if err := firstError(err1, err2); err != nil {
		return err
	}
	keep := func(rec audit.Record) bool {
		if f.Event != "" && !strings.HasPrefix(rec.Type, f.Event) {
			return false
		}
		if !since.IsZero() && rec.Time.Before(since) || !until.IsZero() && rec.Time.After(until) {
			return false
		}
		body := string(rec.Body)
		// Ids and names appear as JSON strings wherever a record names them.
		if f.Run != "" && !strings.Contains(body, `"`+f.Run+`"`) {
			return false
		}
		if f.Workspace != "" && !strings.Contains(body, `"`+f.Workspace+`"`) && !strings.Contains(body, "/"+f.Workspace+`"`) {
			return false
		}
		return true
	}
	recs, err := u.scanAudit(ctx, keep, maxShown)
	if err != nil {
		return err
	}
	for i := len(recs) - 1; i >= 0; i-- { // newest first
		row := auditRow{Record: recs[i]}
		var pretty any
		if json.Unmarshal(recs[i].Body, &pretty) == nil {
			b, _ := json.MarshalIndent(pretty, "", "  ")
			row.Pretty = string(b)
		}
		d.Records = append(d.Records, row)
	}
	if d.Report, err = u.cfg.Audit.Verify(ctx); err != nil {
		d.Error = "the chain could not be verified: the log could not be read"
	}
	v.Title, v.Nav, v.Data = "Audit log", "audit", d
	u.pages.render(w, http.StatusOK, "audit", v)
	return nil
}

// parseTime reads a filter time: RFC 3339, or the browser's datetime-local
// value (taken as UTC).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fail.Invalidf("time %q: use YYYY-MM-DDTHH:MM (UTC) or RFC 3339", fail.Clip(s))
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// credential is one credential a run's phase received, as the audit log
// records it: never a value.
type credential struct {
	Time     time.Time
	Phase    string
	Kind     string
	Audience string
	Role     string
	LeaseID  string
	TokenID  string
}

// credentials reads, from the audit log, the workload identity tokens
// minted for run id and the broker leases its job tokens obtained.
func (u *UI) credentials(ctx context.Context, id string) ([]credential, error) {
	if err := u.cfg.Broker.Authorize(ctx, auditPath, access.Read); err != nil {
		return nil, err
	}
	recs, err := u.scanAudit(ctx, func(rec audit.Record) bool {
		return (rec.Type == "identity.mint" || rec.Type == "broker.response") && strings.Contains(string(rec.Body), `"`+id+`"`)
	}, 1000)
	if err != nil {
		return nil, err
	}
	var out []credential
	for _, rec := range recs {
		switch rec.Type {
		case "identity.mint":
			var b struct {
				JTI   string `json:"jti"`
				Aud   any    `json:"aud"`
				RunID string `json:"run_id"`
				Phase string `json:"phase"`
			}
			if json.Unmarshal(rec.Body, &b) != nil || b.RunID != id {
				continue
			}
			out = append(out, credential{Time: rec.Time, Phase: b.Phase, Kind: "workload identity token", Audience: audience(b.Aud), TokenID: b.JTI})
		case "broker.response":
			var b struct {
				Auth struct {
					Metadata map[string]string `json:"metadata"`
				} `json:"auth"`
				Request struct {
					Path      string `json:"path"`
					MountType string `json:"mount_type"`
				} `json:"request"`
				Response struct {
					Secret struct {
						LeaseID string `json:"lease_id"`
					} `json:"secret"`
					Auth *struct {
						Metadata map[string]string `json:"metadata"`
					} `json:"auth"`
				} `json:"response"`
				Error string `json:"error"`
			}
			if json.Unmarshal(rec.Body, &b) != nil || b.Error != "" {
				continue
			}
			meta := b.Auth.Metadata
			kind := b.Request.MountType
			if b.Response.Auth != nil && b.Response.Secret.LeaseID == "" {
				meta, kind = b.Response.Auth.Metadata, "broker token ("+b.Request.MountType+" login)"
			} else if b.Response.Secret.LeaseID == "" {
				continue // a read that issued nothing
			}
			if meta["terraform_run_id"] != id {
				continue
			}
			role := b.Request.Path[strings.LastIndexByte(b.Request.Path, '/')+1:]
			if b.Response.Auth != nil {
				role = meta["role"]
			}
			out = append(out, credential{Time: rec.Time, Phase: meta["terraform_run_phase"], Kind: kind, Role: role, LeaseID: b.Response.Secret.LeaseID})
		}
	}
	return out, nil
}

func audience(a any) string {
	switch x := a.(type) {
	case string:
		return x
	case []any:
		var s []string
		for _, e := range x {
			if str, ok := e.(string); ok {
				s = append(s, str)
			}
		}
		return strings.Join(s, ", ")
	}
	return ""
}
