// Package deploy holds the files that run helpdesk outside the dev command:
// the container image (Dockerfile), the Compose stack (compose.yaml), the
// Temporal server's setup files (temporal/) and Kubernetes manifests (k8s/).
//
// It has no Go code of its own; deploy_test.go loads those files with the
// same parsers the tools use (compose-go for Compose, YAML for Kubernetes)
// so a broken deployment file fails `go test ./...` instead of a user's
// `docker compose up`.
package deploy
