// Package tfinput checks the parts of a run that OpenTofu reads as its own
// language: resource addresses (-target, -replace) and run variables'
// values (HCL literals). The server checks them when a run is created, so
// a bad one is a 422 naming the field, not an errored plan.
package tfinput
