package ticket

// Roles, from least to most privileged: what a person may do
// (policies/policy.csv) and which tickets they see (identity's scope).
// identity.Role, the Casbin policy, SSO's group mapping and the
// workflow's Actor all use these names.
const (
	RoleRequester = "requester"
	RoleAgent     = "agent"
	RoleLead      = "lead"
	RoleAdmin     = "admin"
)

// Roles an actor of a ticket change can have besides a person's role.
const (
	// RoleSystem is the workflow itself (timers, automation).
	RoleSystem = "system"
	// RoleParticipant is mail from a staff address whose sender is not
	// authenticated (intake): the comment is that of someone taking part,
	// neither an agent's reply nor, unless they are its requester, the
	// requester's follow-up.
	RoleParticipant = "participant"
)

// Roles lists every person's role, least privileged first.
func Roles() []string { return []string{RoleRequester, RoleAgent, RoleLead, RoleAdmin} }
