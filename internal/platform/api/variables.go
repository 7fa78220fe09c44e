package api

import (
	"net/http"

	"github.com/runcred/runcred/internal/platform/resource"
)

func (h *API) createVariable(w http.ResponseWriter, r *http.Request) error {
	var in variableInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := h.Service.Variables.CreateVariable(r.Context(), r.PathValue("id"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toVariable(v))
}

func (h *API) readVariable(w http.ResponseWriter, r *http.Request) error {
	v, err := h.Service.Variables.Variable(r.Context(), r.PathValue("id"), r.PathValue("var"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toVariable(v))
}

// listVariables returns every variable on one page: HCP Terraform does not
// paginate workspace variables either.
func (h *API) listVariables(w http.ResponseWriter, r *http.Request) error {
	vs, err := h.Service.Variables.Variables(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]*variableJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, toVariable(v))
	}
	return writeList(w, out, resource.Page{Number: 1, Size: max(len(out), 1)}, len(out))
}

func (h *API) updateVariable(w http.ResponseWriter, r *http.Request) error {
	var in variableInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := h.Service.Variables.UpdateVariable(r.Context(), r.PathValue("id"), r.PathValue("var"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toVariable(v))
}

func (h *API) deleteVariable(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Variables.DeleteVariable(r.Context(), r.PathValue("id"), r.PathValue("var")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
