// Package runtrigger owns run triggers, as HCP Terraform has them: a
// workspace names source workspaces, and a successful apply in a source
// queues a run in the workspace (the run lifecycle, package run, queues it
// through Directory, in the apply's own transaction). A workspace has at
// most 20 sources, never itself; unlike HCP Terraform, runcred refuses a
// trigger that would close a cycle, so triggered runs never loop.
package runtrigger
