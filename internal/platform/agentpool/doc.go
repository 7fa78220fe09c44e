// Package agentpool owns agent pools, the named groups of agents of an
// organization, and their agent tokens: the types, the service (which
// authorizes every call first), the SQL (db.go) and the broker policy an
// agent token holds. A workspace assigned to a pool has its jobs claimed
// only by agents holding one of its tokens; Directory checks such an
// assignment for the workspace domain.
package agentpool
