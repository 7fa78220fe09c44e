// Package configversion owns configuration versions, the Terraform
// configurations runs plan and apply: the type, the service (which
// authorizes every call first; an upload is authorized by its signed URL),
// the SQL (db.go), the check every archive passes before it is stored
// (archive.go), and Directory, which hands the run lifecycle a version and
// its archive. An upload that asks for it queues a run through Queue.
package configversion
