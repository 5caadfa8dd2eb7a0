# Authorization of the feedback API (the release's OPA policy; decision: data.authz.allow).
package authz

import rego.v1

default allow := false

# Admins may do anything on the feedback API, DELETE included.
allow if {
	"admin" in input.user.roles
	startswith(input.path, "/api/v1/aiops/")
}

# Writers may submit feedback.
allow if {
	input.method == "POST"
	"writer" in input.user.roles
	startswith(input.path, "/api/v1/aiops/")
}

# Any named user may read; anonymous callers (no input.user) get the default: deny.
allow if {
	input.method == "GET"
	input.user.name != ""
}
