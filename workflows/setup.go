package workflows

// Namespace setup, beside the client (client.go): EnsureNamespace
// registers the namespace with the configured retention and adds the
// ticket search attributes. Both steps are idempotent and run on every
// start of the API, the worker and the dev server.

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// EnsureNamespace makes namespace exist with at least the given retention
// and every ticket search attribute registered.
func EnsureNamespace(ctx context.Context, c client.Client, namespace string, retention time.Duration) error {
	ws := c.WorkflowService()
	desc, err := ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var nf *serviceerror.NamespaceNotFound
	switch {
	case errors.As(err, &nf):
		_, err = ws.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        namespace,
			Description:                      "helpdesk tickets",
			WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("workflows: register namespace %s: %w", namespace, err)
		}
	case err != nil:
		return fmt.Errorf("workflows: describe namespace %s: %w", namespace, err)
	default:
		if cur := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); cur < retention {
			_, err = ws.UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
				Namespace: namespace,
				Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(retention)},
			})
			if err != nil {
				return fmt.Errorf("workflows: raise retention of %s to %s: %w", namespace, retention, err)
			}
		}
	}
	if err := addSearchAttributes(ctx, c, namespace); err != nil {
		return err
	}
	return waitUsable(ctx, c, namespace)
}

// waitUsable returns once the frontend accepts queries on every ticket
// search attribute: a cluster caches namespace metadata and only sees new
// attributes after its next refresh, and a workflow started before then
// would be refused.
func waitUsable(ctx context.Context, c client.Client, namespace string) error {
	query := `TicketStatus = "probe" AND TicketPriority = "probe" AND TicketAssignee = "probe" AND ` +
		`TicketTeam = "probe" AND TicketCategory = "probe" AND TicketEscalationLevel = 0 AND ` +
		`TicketSLADueAt > "2000-01-01T00:00:00Z"`
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query, PageSize: 1})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("workflows: search attributes of %s not usable: %w", namespace, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func addSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	want := SearchAttributes()
	// A freshly registered namespace can take a moment to be visible to the
	// operator service; retry briefly.
	deadline := time.Now().Add(30 * time.Second)
	for {
		existing, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err == nil {
			missing := map[string]enumspb.IndexedValueType{}
			for name, typ := range want {
				if _, ok := existing.GetCustomAttributes()[name]; !ok {
					missing[name] = typ
				}
			}
			if len(missing) == 0 {
				return nil
			}
			_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
				Namespace: namespace, SearchAttributes: missing,
			})
			var exists *serviceerror.AlreadyExists
			if err == nil || errors.As(err, &exists) {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("workflows: add search attributes to %s: %w", namespace, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}
