package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/helpdesk/helpdesk/internal/catalog"
)

// Custom field values live under "cf" in the search document. The "cf"
// object is mapped with dynamic: false, so a value is kept in _source but
// only searchable once its key has a mapping; every key gets the mapping of
// its field type, added in place (Elasticsearch accepts new properties on
// a live index). A field's key and type never change and keys are never
// reused, so a mapping never has to be altered.
//
// Keys get mapped when a field is created (the API calls MapField), when a
// process prepares the index (EnsureIndex maps every defined field), when
// a rebuild starts and before it loads a value of a key it has not mapped
// (Reindex) and, as a safety net, before a document with a key this
// process has not seen mapped is written: that write looks the field up
// and maps it first, so a value is never indexed unsearchable because a
// put-mapping was missed. A mapping goes to every version of the index
// (mapFields), so a field created during a rebuild reaches the new index.

// FieldMapping is the Elasticsearch mapping of a custom field type.
func FieldMapping(t catalog.FieldType) map[string]any {
	switch t {
	case catalog.TypeText:
		// Exact filters and sorting on the keyword, words on the subfield.
		return map[string]any{"type": "keyword", "ignore_above": 256,
			"fields": map[string]any{"words": map[string]any{"type": "text"}}}
	case catalog.TypeLongText:
		return map[string]any{"type": "text"}
	case catalog.TypeNumber:
		return map[string]any{"type": "double"}
	case catalog.TypeDropdown, catalog.TypeMultiChoice:
		return map[string]any{"type": "keyword"}
	case catalog.TypeCheckbox:
		return map[string]any{"type": "boolean"}
	case catalog.TypeDate:
		return map[string]any{"type": "date", "format": "strict_date"}
	case catalog.TypeDateTime:
		return map[string]any{"type": "date", "format": "strict_date_optional_time"}
	case catalog.TypeUser:
		return map[string]any{"type": "long"}
	}
	return nil
}

// FieldSource lists every custom field definition, retired ones included.
type FieldSource func(ctx context.Context) ([]catalog.Field, error)

type fieldMappings struct {
	mu     sync.Mutex
	source FieldSource
	mapped map[string]bool
}

// SetFieldSource tells the index where custom field definitions come from
// (the store), for EnsureIndex and for mapping keys on first sight.
func (ix *Index) SetFieldSource(src FieldSource) {
	ix.cf.mu.Lock()
	defer ix.cf.mu.Unlock()
	ix.cf.source = src
}

func (ix *Index) isMapped(key string) bool {
	ix.cf.mu.Lock()
	defer ix.cf.mu.Unlock()
	return ix.cf.mapped[key]
}

// MapField adds the mapping of one custom field to the index.
func (ix *Index) MapField(ctx context.Context, f catalog.Field) error {
	return ix.mapFields(ctx, []catalog.Field{f})
}

func (ix *Index) mapFields(ctx context.Context, fs []catalog.Field) error {
	props := map[string]any{}
	for _, f := range fs {
		if m := FieldMapping(f.Type); m != nil {
			props[f.Key] = m
		}
	}
	if len(props) == 0 {
		ix.cf.mu.Lock()
		if ix.cf.mapped == nil {
			ix.cf.mapped = map[string]bool{}
		}
		ix.cf.mu.Unlock()
		return nil
	}
	body, err := json.Marshal(map[string]any{"properties": map[string]any{
		"cf": map[string]any{"type": "object", "dynamic": false, "properties": props},
	}})
	if err != nil {
		return fmt.Errorf("search: field mapping: %w", err)
	}
	// Every version gets it: the ones behind the alias, a rebuild in
	// progress (not behind the alias yet) and, before the upgrade, the
	// concrete index of an earlier version.
	res, err := ix.es.Indices.PutMapping([]string{ix.name, ix.pattern()}, bytes.NewReader(body),
		ix.es.Indices.PutMapping.WithIgnoreUnavailable(true), ix.es.Indices.PutMapping.WithAllowNoIndices(true),
		ix.es.Indices.PutMapping.WithContext(ctx))
	if err := answer(res, err, "map custom fields in "+ix.name); err != nil {
		return err
	}
	ix.cf.mu.Lock()
	defer ix.cf.mu.Unlock()
	if ix.cf.mapped == nil {
		ix.cf.mapped = map[string]bool{}
	}
	for k := range props {
		ix.cf.mapped[k] = true
	}
	return nil
}

// mapAllFields maps every defined field; without a source it does nothing.
func (ix *Index) mapAllFields(ctx context.Context) error {
	ix.cf.mu.Lock()
	src := ix.cf.source
	ix.cf.mu.Unlock()
	if src == nil {
		return nil
	}
	fs, err := src(ctx)
	if err != nil {
		return fmt.Errorf("search: custom fields: %w", err)
	}
	return ix.mapFields(ctx, fs)
}

// ensureKeysMapped maps the fields of values' keys this process has not
// mapped yet. A key no field defines is left to dynamic: false.
func (ix *Index) ensureKeysMapped(ctx context.Context, values map[string]any) error {
	for k := range values {
		if ix.isMapped(k) {
			continue
		}
		if err := ix.mapAllFields(ctx); err != nil {
			return err
		}
		// Keys no field defines stay unmapped; remember them as handled so
		// they do not cost a lookup on every write.
		ix.cf.mu.Lock()
		if ix.cf.mapped == nil {
			ix.cf.mapped = map[string]bool{}
		}
		for k := range values {
			ix.cf.mapped[k] = true
		}
		ix.cf.mu.Unlock()
		return nil
	}
	return nil
}
