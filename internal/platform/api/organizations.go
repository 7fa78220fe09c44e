package api

import (
	"net/http"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/tag"
)

func (h *API) createOrganization(w http.ResponseWriter, r *http.Request) error {
	var in organizationInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return fail.Invalidf("organization name is required")
	}
	if err := in.check(); err != nil {
		return err
	}
	o := organization.Options{Name: *in.Name}
	if in.Email != nil {
		o.Email = *in.Email
	}
	if in.ManagedVariables != nil {
		if o.ManagedVariables = *in.ManagedVariables; o.ManagedVariables == "" {
			return fail.Invalidf("runcred-managed-variables must be %q or %q", organization.ManagedPolicy, organization.ManagedLocked)
		}
	}
	org, err := h.Service.Organizations.Create(r.Context(), o)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toOrganization(org))
}

func (h *API) readOrganization(w http.ResponseWriter, r *http.Request) error {
	org, err := h.Service.Organizations.Organization(r.Context(), r.PathValue("org"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toOrganization(org))
}

func (h *API) updateOrganization(w http.ResponseWriter, r *http.Request) error {
	var in organizationInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	var o organization.Options
	if in.Name != nil {
		o.Name = *in.Name
		if o.Name == "" {
			return fail.Invalidf("organization name cannot be empty")
		}
	}
	if in.Email != nil {
		o.Email = *in.Email
		if o.Email == "" {
			return fail.Invalidf("a valid email address is required")
		}
	}
	if in.ManagedVariables != nil {
		if o.ManagedVariables = *in.ManagedVariables; o.ManagedVariables == "" {
			return fail.Invalidf("runcred-managed-variables must be %q or %q", organization.ManagedPolicy, organization.ManagedLocked)
		}
	}
	org, err := h.Service.Organizations.Update(r.Context(), r.PathValue("org"), o)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toOrganization(org))
}

func (h *API) listOrganizations(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	orgs, total, err := h.Service.Organizations.Organizations(r.Context(), pg)
	if err != nil {
		return err
	}
	out := make([]*organizationJSON, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, toOrganization(o))
	}
	return writeList(w, out, pg, total)
}

func (h *API) deleteOrganization(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Organizations.Delete(r.Context(), r.PathValue("org")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *API) createProject(w http.ResponseWriter, r *http.Request) error {
	var in projectInput
	raw, err := decodeRaw(r, &in)
	if err != nil {
		return err
	}
	bindings, err := workspaceBindings(raw, false)
	if err != nil {
		return err
	}
	if err := tag.Valid(bindings); err != nil {
		return err
	}
	if in.Name == nil {
		return fail.Invalidf("project name is required")
	}
	if in.AutoDestroyActivityDuration != nil {
		return fail.Invalidf("attribute %q is not supported by runcred", "auto-destroy-activity-duration")
	}
	o := organization.ProjectOptions{Name: *in.Name}
	if in.Description != nil {
		o.Description = *in.Description
	}
	p, err := h.Service.Organizations.CreateProject(r.Context(), r.PathValue("org"), o)
	if err != nil {
		return err
	}
	if len(bindings) > 0 {
		if _, err := h.Service.Tags.SetProject(r.Context(), p.ID, bindings); err != nil {
			return err
		}
	}
	return write(w, http.StatusCreated, toProject(p))
}

func (h *API) readProject(w http.ResponseWriter, r *http.Request) error {
	p, err := h.Service.Organizations.Project(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toProject(p))
}

func (h *API) listProjects(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	ps, total, err := h.Service.Organizations.Projects(r.Context(), r.PathValue("org"), pg)
	if err != nil {
		return err
	}
	out := make([]*projectJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, toProject(p))
	}
	return writeList(w, out, pg, total)
}

func (h *API) updateProject(w http.ResponseWriter, r *http.Request) error {
	var in projectInput
	raw, err := decodeRaw(r, &in)
	if err != nil {
		return err
	}
	bindings, err := workspaceBindings(raw, false)
	if err != nil {
		return err
	}
	if err := tag.Valid(bindings); err != nil {
		return err
	}
	if in.AutoDestroyActivityDuration != nil {
		return fail.Invalidf("attribute %q is not supported by runcred", "auto-destroy-activity-duration")
	}
	p, err := h.Service.Organizations.UpdateProject(r.Context(), r.PathValue("id"),
		organization.ProjectUpdate{Name: in.Name, Description: in.Description})
	if err != nil {
		return err
	}
	// The relationship, when the document has it, replaces the bindings.
	if bindings != nil {
		if _, err := h.Service.Tags.SetProject(r.Context(), p.ID, bindings); err != nil {
			return err
		}
	}
	return write(w, http.StatusOK, toProject(p))
}

func (h *API) deleteProject(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Organizations.DeleteProject(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
