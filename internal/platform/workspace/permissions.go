package workspace

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Permissions are what the caller may do with a workspace, as HCP
// Terraform reports them in a workspace's permissions block. Each is the
// answer of the same authorization the action itself asks for.
type Permissions struct {
	Update, Destroy, ReadSettings  bool
	QueueRun, QueueApply           bool
	Lock, Unlock, ForceUnlock      bool
	ReadVariable, UpdateVariable   bool
	ReadStateVersions, ReadOutputs bool
}

// StateOutputsPath is where the outputs of a workspace's current state are
// read (values of sensitive outputs need read on its state versions).
func StateOutputsPath(org, ws string) string {
	return resource.WorkspacePath(org, ws) + "/state-outputs"
}

// AnyRunActionPath is the path of an action on a run of workspace ws not
// yet made ("+" for its id): what a policy with a rule for every run of
// the workspace, such as a team's, answers for each of them.
func AnyRunActionPath(org, ws, action string) string {
	return resource.WorkspacePath(org, ws) + "/runs/+/actions/" + action
}

// Permissions answers for w, which the caller has been allowed to read.
func (s *Service) Permissions(ctx context.Context, w Workspace) Permissions {
	may := func(path, capability string) bool { return s.base.Authorize(ctx, path, capability) == nil }
	ws := resource.WorkspacePath(w.Organization, w.Name)
	return Permissions{
		Update: may(ws, access.Update), Destroy: may(ws, access.Delete), ReadSettings: may(ws, access.Read),
		QueueRun:          may(ws+"/runs", access.Create),
		QueueApply:        may(ws+"/runs", access.Create) && may(AnyRunActionPath(w.Organization, w.Name, "apply"), access.Update),
		Lock:              may(ws+"/actions/lock", access.Update),
		Unlock:            may(ws+"/actions/unlock", access.Update),
		ForceUnlock:       may(ws+"/actions/force-unlock", access.Update),
		ReadVariable:      may(resource.VarsPath(w.Organization, w.Name), access.List),
		UpdateVariable:    may(resource.VarsPath(w.Organization, w.Name)+"/+", access.Update),
		ReadStateVersions: may(ws+"/state-versions", access.Read),
		ReadOutputs:       may(StateOutputsPath(w.Organization, w.Name), access.Read),
	}
}
