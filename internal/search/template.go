package search

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/helpdesk/helpdesk/internal/store"
)

// The index is versioned: documents live in name-v1, name-v2, … and
// every read and write goes through the alias name, which points at the
// current version. All versions come from one index template kept in the
// repository (template.json), installed for the pattern name-v*. It uses
// core Elasticsearch features only (standard analyzer, keyword with the
// built-in lowercase normalizer, text, date, numeric, boolean), so it runs
// on the minimal distribution too.

//go:embed template.json
var templateJSON []byte

// template is template.json decoded: its settings are what a rebuilt
// index returns to after its load, its mappings what EnsureIndex adds to a
// live index in place.
var template = func() (t struct {
	Settings struct {
		Replicas json.RawMessage `json:"number_of_replicas"`
		Refresh  json.RawMessage `json:"refresh_interval"`
	} `json:"settings"`
	Mappings json.RawMessage `json:"mappings"`
}) {
	if err := json.Unmarshal(templateJSON, &t); err != nil {
		panic("search: template.json: " + err.Error())
	}
	return t
}()

// SetStore tells the index where its documents come from (PostgreSQL):
// custom field definitions, and the tickets EnsureIndex rebuilds from when
// it upgrades an index of an earlier version.
func (ix *Index) SetStore(st *store.Store) {
	ix.store = st
	ix.SetFieldSource(st.CustomFields)
}

// versionName is the name of version n of the index.
func (ix *Index) versionName(n int) string { return ix.name + "-v" + strconv.Itoa(n) }

// pattern matches every version of the index; with the name itself it
// reaches the indices behind the alias, a rebuild in progress and, before
// the upgrade, a concrete index of an earlier version.
func (ix *Index) pattern() string { return ix.name + "-v*" }

// putTemplate installs (or refreshes) the index template for the versions.
func (ix *Index) putTemplate(ctx context.Context) error {
	body, err := json.Marshal(map[string]any{
		"index_patterns": []string{ix.pattern()},
		"priority":       100,
		"template":       json.RawMessage(templateJSON),
		"_meta":          map[string]any{"managed_by": "helpdesk", "alias": ix.name},
	})
	if err != nil {
		return fmt.Errorf("search: template: %w", err)
	}
	res, err := ix.es.Indices.PutIndexTemplate("helpdesk-"+ix.name, bytes.NewReader(body),
		ix.es.Indices.PutIndexTemplate.WithContext(ctx))
	return answer(res, err, "install the index template for "+ix.pattern())
}

// layout is what stands behind the index name.
type layout struct {
	// current lists the indices behind the alias (one, normally).
	current []string
	// legacy: the name is a concrete index, as earlier versions made it.
	legacy bool
	// versions are the version numbers of every name-vN index, behind the
	// alias or not (left by an interrupted rebuild or kept by -keep-old).
	versions []int
}

func (l layout) next() int {
	n := 0
	for _, v := range l.versions {
		n = max(n, v)
	}
	return n + 1
}

// layout reads what the name and the version pattern resolve to, in one
// request.
func (ix *Index) layout(ctx context.Context) (layout, error) {
	res, err := ix.es.Indices.GetAlias(ix.es.Indices.GetAlias.WithIndex(ix.name, ix.pattern()),
		ix.es.Indices.GetAlias.WithIgnoreUnavailable(true), ix.es.Indices.GetAlias.WithContext(ctx))
	if err != nil {
		return layout{}, fmt.Errorf("search: read the aliases of %s: %w", ix.name, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(res.Body)
		return layout{}, fmt.Errorf("search: read the aliases of %s: %s: %s", ix.name, res.Status(), msg)
	}
	var out map[string]struct {
		Aliases map[string]json.RawMessage `json:"aliases"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return layout{}, fmt.Errorf("search: read the aliases of %s: %w", ix.name, err)
	}
	var l layout
	for index, v := range out {
		if index == ix.name {
			l.legacy = true
			continue
		}
		if _, ok := v.Aliases[ix.name]; ok {
			l.current = append(l.current, index)
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(index, ix.name+"-v")); err == nil && strings.HasPrefix(index, ix.name+"-v") {
			l.versions = append(l.versions, n)
		}
	}
	sort.Strings(l.current)
	sort.Ints(l.versions)
	return l, nil
}

// EnsureIndex prepares the index for this version of the code, whatever
// it finds:
//   - it installs the index template (every start, so a changed template
//     reaches the next rebuild);
//   - the alias exists: fields the template gained are added to the live
//     index in place (Elasticsearch accepts additive mapping changes; for
//     any other change run `helpdesk reindex`);
//   - nothing exists: it creates name-v1 behind the alias, in one request;
//   - the name is a concrete index (earlier versions made one): it
//     upgrades, rebuilding name-v1 from PostgreSQL (SetStore) and swapping
//     the alias for the old index in one atomic step (Reindex). If another
//     process is upgrading already, this one goes on: writes go to the old
//     index until the swap, and that process replays them.
//
// Then every custom field is mapped (SetFieldSource).
func (ix *Index) EnsureIndex(ctx context.Context) error {
	if err := ix.putTemplate(ctx); err != nil {
		return err
	}
	l, err := ix.layout(ctx)
	if err != nil {
		return err
	}
	switch {
	case len(l.current) > 0:
		if err := ix.putMapping(ctx, ix.name); err != nil {
			return err
		}
	case l.legacy:
		if err := ix.upgrade(ctx); err != nil {
			return err
		}
	default:
		if err := ix.create(ctx, l); err != nil {
			return err
		}
	}
	return ix.mapAllFields(ctx)
}

// create makes the first version behind the alias. Index and alias come
// into being in one request, so no write ever finds the name unbound (it
// would create a concrete index of that name). When another process won
// the race, its index is as good.
func (ix *Index) create(ctx context.Context, l layout) error {
	name := ix.versionName(l.next())
	body := fmt.Sprintf(`{"aliases": {%q: {}}}`, ix.name)
	res, err := ix.es.Indices.Create(name, ix.es.Indices.Create.WithBody(strings.NewReader(body)),
		ix.es.Indices.Create.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("search: create index %s: %w", name, err)
	}
	defer res.Body.Close()
	if !res.IsError() {
		return nil
	}
	msg, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusBadRequest && bytes.Contains(msg, []byte("resource_already_exists_exception")) {
		if again, err := ix.layout(ctx); err == nil && len(again.current) > 0 {
			return nil
		}
	}
	return fmt.Errorf("search: create index %s: %s: %s", name, res.Status(), msg)
}

// upgrade turns the concrete index of an earlier version into name-v1
// behind the alias (Reindex does it).
func (ix *Index) upgrade(ctx context.Context) error {
	if ix.store == nil {
		return fmt.Errorf("search: %s is a concrete index of an earlier version; upgrading it to an alias needs PostgreSQL (SetStore)", ix.name)
	}
	// Until the swap, this version's writes go to the old index, whose
	// strict mapping would refuse the new fields. Add them (the change is
	// additive); should that fail, those writes fail and retry, and the
	// rebuild's replay covers them anyway.
	if err := ix.putMapping(ctx, ix.name); err != nil {
		slog.Warn("search: old index keeps its mapping until the upgrade swaps it", "index", ix.name, "err", err)
	}
	slog.Info("search: upgrading the index to a versioned index behind an alias", "alias", ix.name)
	res, err := Reindex(ctx, ix, ix.store, ReindexOptions{Progress: logProgress()})
	if errors.Is(err, ErrRebuildRunning) {
		slog.Info("search: another process is upgrading the index; writes go to the old index until it swaps", "alias", ix.name)
		return nil
	}
	if err != nil {
		return err
	}
	slog.Info("search: index upgraded", "alias", ix.name, "index", res.Index, "tickets", res.Loaded,
		"replayed", res.Replayed, "seconds", res.Elapsed.Seconds())
	return nil
}

// putMapping adds the template's fields to the live index (target: the
// alias, or the old concrete index before an upgrade).
func (ix *Index) putMapping(ctx context.Context, target string) error {
	res, err := ix.es.Indices.PutMapping([]string{target}, bytes.NewReader(template.Mappings),
		ix.es.Indices.PutMapping.WithContext(ctx))
	return answer(res, err, "update the mapping of "+target)
}

// answer reads a response to its end and turns a failed request or an
// error status into an error naming what was being done.
func answer(res *esapi.Response, err error, doing string) error {
	if err != nil {
		return fmt.Errorf("search: %s: %w", doing, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(res.Body)
		return fmt.Errorf("search: %s: %s: %s", doing, res.Status(), msg)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return nil
}
