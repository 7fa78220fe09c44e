package api

import (
	"encoding/base64"
	"net/http"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/state"
)

type stateVersionOutputJSON struct {
	ID           string `jsonapi:"primary,state-version-outputs"`
	Name         string `jsonapi:"attr,name"`
	Sensitive    bool   `jsonapi:"attr,sensitive"`
	Type         string `jsonapi:"attr,type"`
	Value        any    `jsonapi:"attr,value"`
	DetailedType any    `jsonapi:"attr,detailed-type"`
}

func toOutput(o state.Output) *stateVersionOutputJSON {
	return &stateVersionOutputJSON{ID: o.ID, Name: o.Name, Sensitive: o.Sensitive, Type: o.Type, Value: rawValue(o.Value), DetailedType: rawValue(o.DetailedType)}
}

// currentStateVersionOutputs lists the outputs of a workspace's current
// state; a sensitive one's value is null for a caller who may not read the
// workspace's state.
func (h *API) currentStateVersionOutputs(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	_, outs, err := h.Service.StateVersions.CurrentOutputs(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]*stateVersionOutputJSON, 0, len(outs))
	for _, o := range outs {
		out = append(out, toOutput(o))
	}
	pg.Number, pg.Size = 1, max(len(out), 1)
	return writeList(w, out, pg, len(out))
}

func (h *API) readStateVersionOutput(w http.ResponseWriter, r *http.Request) error {
	o, err := h.Service.StateVersions.Output(r.Context(), r.PathValue("out"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toOutput(o))
}

// stateVersionInput is what go-tfe's StateVersions.Create and OpenTofu's
// cloud backend send. The state comes inline (base64), as runcred has no
// separate upload URL for it; json-state, which HCP Terraform derives its
// own views from, is accepted and not needed (runcred reads the state).
type stateVersionInput struct {
	Type      string  `jsonapi:"primary,state-versions"`
	Serial    *int64  `jsonapi:"attr,serial"`
	MD5       *string `jsonapi:"attr,md5"`
	Lineage   *string `jsonapi:"attr,lineage"`
	State     *string `jsonapi:"attr,state"`
	JSONState *string `jsonapi:"attr,json-state"`
	// The outputs as OpenTofu's remote backend sends them; runcred reads
	// them from the state itself.
	JSONStateOutputs *string `jsonapi:"attr,json-state-outputs"`
	Force            *bool   `jsonapi:"attr,force"`
}

func (h *API) uploadStateVersion(w http.ResponseWriter, r *http.Request) error {
	var in stateVersionInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.State == nil {
		// These words are what go-tfe's Upload looks for to fall back to
		// sending the state inline, as for Terraform Enterprise before
		// upload URLs; runcred has none.
		return fail.Invalidf("param is missing or the value is empty: state (runcred takes the state inline)")
	}
	if in.MD5 == nil {
		return fail.Invalidf("attribute %q is required", "md5")
	}
	if err := settled("force", in.Force, false); err != nil {
		return err
	}
	st, err := base64.StdEncoding.DecodeString(*in.State)
	if err != nil {
		return fail.Invalidf("attribute %q must be base64", "state")
	}
	sv, err := h.Service.StateVersions.Upload(r.Context(), r.PathValue("id"), st, *in.MD5, in.Serial, in.Lineage)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, h.toStateVersion(r, sv))
}
