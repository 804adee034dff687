package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func baseFacts() Facts {
	return Facts{
		CategoryPath:   []int64{3, 2, 1},
		Subject:        "Printer on the 3rd floor",
		Description:    "The print queue is stuck.",
		OrganizationID: ptr(int64(100)),
		VIP:            true,
		Channel:        "email",
		Priority:       "high",
		Fields: map[string]any{
			"serial":     "SN-12345 ABC",
			"notes":      "Long Text here",
			"seats":      float64(25),
			"os":         "linux",
			"modules":    []any{"billing", "crm"},
			"agreed":     true,
			"declined":   false,
			"due":        "2026-12-04",
			"seen_at":    "2026-12-04T09:30:00Z",
			"owner":      float64(31),
			"empty_text": "",
			"empty_list": []any{},
			"null":       nil,
		},
		FieldTypes: map[string]string{
			"serial": "text", "notes": "long_text", "seats": "number", "os": "dropdown",
			"modules": "multi_choice", "agreed": "checkbox", "declined": "checkbox", "due": "date",
			"seen_at": "datetime", "owner": "user", "empty_text": "text", "empty_list": "multi_choice",
			"null": "text", "unset_os": "dropdown", "unset_modules": "multi_choice", "location": "geo",
		},
	}
}

func l(vs ...any) []any { return vs }

func TestConditionOperators(t *testing.T) {
	noCategory := func(f *Facts) { f.CategoryPath = nil }
	noOrg := func(f *Facts) { f.OrganizationID = nil }
	setField := func(key string, v any) func(*Facts) { return func(f *Facts) { f.Fields[key] = v } }
	cases := []struct {
		name  string
		cond  Condition
		facts func(*Facts)
		want  bool
	}{
		// category
		{"category is the ticket's own", Condition{FieldCategory, "is", float64(3)}, nil, true},
		{"category is an ancestor", Condition{FieldCategory, "is", float64(2)}, nil, false},
		{"category is without category", Condition{FieldCategory, "is", float64(3)}, noCategory, false},
		{"category in", Condition{FieldCategory, "in", l(float64(9), float64(3))}, nil, true},
		{"category in ancestors only", Condition{FieldCategory, "in", l(float64(1), float64(2))}, nil, false},
		{"category in without category", Condition{FieldCategory, "in", l(float64(3))}, noCategory, false},
		{"category under the root", Condition{FieldCategory, "under", float64(1)}, nil, true},
		{"category under itself", Condition{FieldCategory, "under", float64(3)}, nil, true},
		{"category under another", Condition{FieldCategory, "under", float64(9)}, nil, false},
		{"category under without category", Condition{FieldCategory, "under", float64(1)}, noCategory, false},
		{"category not_under another", Condition{FieldCategory, "not_under", float64(9)}, nil, true},
		{"category not_under an ancestor", Condition{FieldCategory, "not_under", float64(2)}, nil, false},
		{"category not_under without category", Condition{FieldCategory, "not_under", float64(1)}, noCategory, true},

		// requester organization
		{"organization is", Condition{FieldRequesterOrganization, "is", float64(100)}, nil, true},
		{"organization is another", Condition{FieldRequesterOrganization, "is", float64(101)}, nil, false},
		{"organization is without org", Condition{FieldRequesterOrganization, "is", float64(100)}, noOrg, false},
		{"organization in", Condition{FieldRequesterOrganization, "in", l(float64(101), float64(100))}, nil, true},
		{"organization in others", Condition{FieldRequesterOrganization, "in", l(float64(101))}, nil, false},
		{"organization in without org", Condition{FieldRequesterOrganization, "in", l(float64(100))}, noOrg, false},
		{"organization not_in others", Condition{FieldRequesterOrganization, "not_in", l(float64(101))}, nil, true},
		{"organization not_in its own", Condition{FieldRequesterOrganization, "not_in", l(float64(100))}, nil, false},
		{"organization not_in without org", Condition{FieldRequesterOrganization, "not_in", l(float64(100))}, noOrg, true},

		// requester VIP
		{"vip is true", Condition{FieldRequesterVIP, "is", true}, nil, true},
		{"vip is false for a VIP", Condition{FieldRequesterVIP, "is", false}, nil, false},
		{"vip is false for a non-VIP", Condition{FieldRequesterVIP, "is", false}, func(f *Facts) { f.VIP = false }, true},

		// channel
		{"channel is", Condition{FieldChannel, "is", "email"}, nil, true},
		{"channel is another", Condition{FieldChannel, "is", "web"}, nil, false},
		{"channel in", Condition{FieldChannel, "in", l("web", "email")}, nil, true},
		{"channel in others", Condition{FieldChannel, "in", l("web", "api")}, nil, false},
		{"channel is with no channel", Condition{FieldChannel, "is", ""}, func(f *Facts) { f.Channel = "" }, false},

		// priority
		{"priority is", Condition{FieldPriority, "is", "high"}, nil, true},
		{"priority is another", Condition{FieldPriority, "is", "low"}, nil, false},
		{"priority in", Condition{FieldPriority, "in", l("critical", "high")}, nil, true},
		{"priority in others", Condition{FieldPriority, "in", l("low", "medium")}, nil, false},
		{"priority at_least itself", Condition{FieldPriority, "at_least", "high"}, nil, true},
		{"priority at_least lower", Condition{FieldPriority, "at_least", "medium"}, nil, true},
		{"priority at_least higher", Condition{FieldPriority, "at_least", "critical"}, nil, false},
		{"priority critical at_least high", Condition{FieldPriority, "at_least", "high"}, func(f *Facts) { f.Priority = "critical" }, true},
		{"priority low at_least high", Condition{FieldPriority, "at_least", "high"}, func(f *Facts) { f.Priority = "low" }, false},
		{"priority none at_least low", Condition{FieldPriority, "at_least", "low"}, func(f *Facts) { f.Priority = "" }, false},
		{"priority unknown fact is", Condition{FieldPriority, "is", "urgent"}, func(f *Facts) { f.Priority = "urgent" }, false},

		// text and long_text
		{"text is, case-insensitive", Condition{"cf.serial", "is", "sn-12345 abc"}, nil, true},
		{"text is needs all of it", Condition{"cf.serial", "is", "SN-12345"}, nil, false},
		{"text is, non-ASCII case", Condition{"cf.serial", "is", "ΟΔΟΣ"}, setField("serial", "οδος"), true},
		{"text contains", Condition{"cf.serial", "contains", "12345 a"}, nil, true},
		{"text contains not", Condition{"cf.serial", "contains", "xyz"}, nil, false},
		{"long_text contains", Condition{"cf.notes", "contains", "TEXT"}, nil, true},
		{"long_text is not", Condition{"cf.notes", "is", "long text"}, nil, false},
		{"text on no value", Condition{"cf.serial", "contains", "a"}, func(f *Facts) { delete(f.Fields, "serial") }, false},

		// number
		{"number eq", Condition{"cf.seats", "eq", float64(25)}, nil, true},
		{"number eq not", Condition{"cf.seats", "eq", float64(24)}, nil, false},
		{"number gt", Condition{"cf.seats", "gt", float64(24.5)}, nil, true},
		{"number gt not", Condition{"cf.seats", "gt", float64(25)}, nil, false},
		{"number gte", Condition{"cf.seats", "gte", float64(25)}, nil, true},
		{"number gte not", Condition{"cf.seats", "gte", float64(26)}, nil, false},
		{"number lt", Condition{"cf.seats", "lt", float64(26)}, nil, true},
		{"number lt not", Condition{"cf.seats", "lt", float64(25)}, nil, false},
		{"number lte", Condition{"cf.seats", "lte", float64(25)}, nil, true},
		{"number lte not", Condition{"cf.seats", "lte", float64(24)}, nil, false},
		{"number fact as Go int", Condition{"cf.seats", "eq", float64(25)}, setField("seats", 25), true},

		// dropdown
		{"dropdown is", Condition{"cf.os", "is", "linux"}, nil, true},
		{"dropdown is another", Condition{"cf.os", "is", "mac"}, nil, false},
		{"dropdown is without value", Condition{"cf.unset_os", "is", "mac"}, nil, false},
		{"dropdown in", Condition{"cf.os", "in", l("mac", "linux")}, nil, true},
		{"dropdown in others", Condition{"cf.os", "in", l("mac")}, nil, false},
		{"dropdown in without value", Condition{"cf.unset_os", "in", l("mac")}, nil, false},
		{"dropdown not_in others", Condition{"cf.os", "not_in", l("mac")}, nil, true},
		{"dropdown not_in its own", Condition{"cf.os", "not_in", l("mac", "linux")}, nil, false},
		{"dropdown not_in without value", Condition{"cf.unset_os", "not_in", l("mac")}, nil, true},

		// multi_choice
		{"multi_choice any", Condition{"cf.modules", "any", l("hr", "crm")}, nil, true},
		{"multi_choice any not", Condition{"cf.modules", "any", l("hr")}, nil, false},
		{"multi_choice all", Condition{"cf.modules", "all", l("crm", "billing")}, nil, true},
		{"multi_choice all not", Condition{"cf.modules", "all", l("billing", "hr")}, nil, false},
		{"multi_choice any without value", Condition{"cf.unset_modules", "any", l("hr")}, nil, false},
		{"multi_choice fact as []string", Condition{"cf.modules", "all", l("hr")}, setField("modules", []string{"hr"}), true},

		// checkbox
		{"checkbox is true", Condition{"cf.agreed", "is", true}, nil, true},
		{"checkbox is false on true", Condition{"cf.agreed", "is", false}, nil, false},
		{"checkbox is false on false", Condition{"cf.declined", "is", false}, nil, true},

		// date and datetime
		{"date before", Condition{"cf.due", "before", "2026-12-05"}, nil, true},
		{"date before same day", Condition{"cf.due", "before", "2026-12-04"}, nil, false},
		{"date after", Condition{"cf.due", "after", "2025-12-31"}, nil, true},
		{"date after same day", Condition{"cf.due", "after", "2026-12-04"}, nil, false},
		{"datetime before", Condition{"cf.seen_at", "before", "2026-12-04T09:30:01Z"}, nil, true},
		{"datetime before not", Condition{"cf.seen_at", "before", "2026-12-04T09:30:00Z"}, nil, false},
		{"datetime after an instant in another zone", Condition{"cf.seen_at", "after", "2026-12-04T10:00:00+01:00"}, nil, true},
		{"datetime after not", Condition{"cf.seen_at", "after", "2026-12-04T10:00:00Z"}, nil, false},

		// user
		{"user is", Condition{"cf.owner", "is", float64(31)}, nil, true},
		{"user is another", Condition{"cf.owner", "is", float64(32)}, nil, false},
		{"user in", Condition{"cf.owner", "in", l(float64(32), float64(31))}, nil, true},
		{"user in others", Condition{"cf.owner", "in", l(float64(33))}, nil, false},

		// set and not_set
		{"set with a value", Condition{"cf.serial", "set", nil}, nil, true},
		{"set on false checkbox", Condition{"cf.declined", "set", nil}, nil, true},
		{"set on missing", Condition{"cf.unset_os", "set", nil}, nil, false},
		{"set on empty string", Condition{"cf.empty_text", "set", nil}, nil, false},
		{"set on empty list", Condition{"cf.empty_list", "set", nil}, nil, false},
		{"set on null", Condition{"cf.null", "set", nil}, nil, false},
		{"not_set on missing", Condition{"cf.unset_os", "not_set", nil}, nil, true},
		{"not_set on empty string", Condition{"cf.empty_text", "not_set", nil}, nil, true},
		{"not_set with a value", Condition{"cf.serial", "not_set", nil}, nil, false},
		{"not_set on a retired field", Condition{"cf.retired", "not_set", nil}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := baseFacts()
			if c.facts != nil {
				c.facts(&f)
			}
			if got := Matches([]Condition{c.cond}, f); got != c.want {
				t.Fatalf("%+v on %+v: got %v, want %v", c.cond, f, got, c.want)
			}
		})
	}
}

func TestWrongTypesDoNotMatch(t *testing.T) {
	setField := func(key string, v any) func(*Facts) { return func(f *Facts) { f.Fields[key] = v } }
	cases := []struct {
		name  string
		cond  Condition
		facts func(*Facts)
	}{
		{"unknown field", Condition{"subject", "is", "printer"}, nil},
		{"empty custom key", Condition{"cf.", "set", nil}, nil},
		{"unknown op", Condition{FieldCategory, "contains", float64(3)}, nil},
		{"unknown op on custom field", Condition{"cf.seats", "between", l(float64(1), float64(30))}, nil},
		{"op of another type", Condition{"cf.serial", "gt", "a"}, nil},
		{"category id as string", Condition{FieldCategory, "is", "3"}, nil},
		{"category id fractional", Condition{FieldCategory, "under", 1.5}, nil},
		{"category not_under with a string", Condition{FieldCategory, "not_under", "x"}, nil},
		{"category in not a list", Condition{FieldCategory, "in", float64(3)}, nil},
		{"category in with a string item", Condition{FieldCategory, "in", l(float64(3), "2")}, nil},
		{"keywords not a list", Condition{FieldKeywords, "any", "print"}, nil},
		{"keywords none with a number", Condition{FieldKeywords, "none", float64(5)}, nil},
		{"keywords list with a number", Condition{FieldKeywords, "none", l("fax", float64(5))}, nil},
		{"keywords empty list", Condition{FieldKeywords, "none", l()}, nil},
		{"keyword without letters", Condition{FieldKeywords, "none", l("!!!")}, nil},
		{"organization not_in with a string", Condition{FieldRequesterOrganization, "not_in", "101"}, func(f *Facts) { f.OrganizationID = nil }},
		{"vip as a string", Condition{FieldRequesterVIP, "is", "true"}, nil},
		{"channel as a number", Condition{FieldChannel, "is", float64(1)}, nil},
		{"priority at_least a number", Condition{FieldPriority, "at_least", float64(1)}, nil},
		{"priority at_least unknown", Condition{FieldPriority, "at_least", "urgent"}, nil},
		{"text fact a number", Condition{"cf.serial", "is", "5"}, setField("serial", float64(5))},
		{"text value a number", Condition{"cf.serial", "contains", float64(5)}, nil},
		{"number fact a string", Condition{"cf.seats", "gt", float64(1)}, setField("seats", "25")},
		{"number value a string", Condition{"cf.seats", "lt", "100"}, nil},
		{"dropdown fact a number for not_in", Condition{"cf.os", "not_in", l("mac")}, setField("os", float64(1))},
		{"dropdown not_in with a single string", Condition{"cf.unset_os", "not_in", "mac"}, nil},
		{"multi_choice fact a string", Condition{"cf.modules", "any", l("billing")}, setField("modules", "billing")},
		{"multi_choice fact with a number", Condition{"cf.modules", "any", l("billing")}, setField("modules", l("billing", float64(2)))},
		{"checkbox fact a string", Condition{"cf.agreed", "is", true}, setField("agreed", "true")},
		{"date fact in another format", Condition{"cf.due", "before", "2030-01-01"}, setField("due", "04/12/2026")},
		{"date value a datetime", Condition{"cf.due", "before", "2030-01-01T00:00:00Z"}, nil},
		{"datetime fact a date", Condition{"cf.seen_at", "before", "2030-01-01T00:00:00Z"}, setField("seen_at", "2026-12-04")},
		{"user fact a string", Condition{"cf.owner", "is", float64(31)}, setField("owner", "31")},
		{"user value fractional", Condition{"cf.owner", "is", 31.5}, nil},
		{"custom field of unknown type", Condition{"cf.location", "is", "x"}, setField("location", "x")},
		{"custom field without a type", Condition{"cf.ghost", "is", "x"}, setField("ghost", "x")},
		{"no field maps at all", Condition{"cf.serial", "is", "x"}, func(f *Facts) { f.Fields, f.FieldTypes = nil, nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := baseFacts()
			if c.facts != nil {
				c.facts(&f)
			}
			if Matches([]Condition{c.cond}, f) {
				t.Fatalf("%+v matched", c.cond)
			}
		})
	}
}

func TestKeywords(t *testing.T) {
	cases := []struct {
		name    string
		subject string
		desc    string
		op      string
		words   []any
		want    bool
	}{
		{"whole word", "The print queue", "", "any", l("print"), true},
		{"no substring of a word", "Printer broken", "", "any", l("print"), false},
		{"no prefix of a word", "reprint please", "", "any", l("print"), false},
		{"case-insensitive", "PRINT queue", "", "any", l("Print"), true},
		{"punctuation is not part of a word", "", "(print), print! print?", "any", l("print"), true},
		{"digits are words", "error 500 returned", "", "any", l("500"), true},
		{"digits whole", "error 500 returned", "", "any", l("50"), false},
		{"found in the description", "Help", "the printer jams", "any", l("printer"), true},
		{"phrase as consecutive words", "", "the print queue is stuck", "any", l("print queue"), true},
		{"phrase across punctuation", "", "the print-queue is stuck", "any", l("print queue"), true},
		{"phrase with other spacing", "", "the print queue is stuck", "any", l("PRINT   queue"), true},
		{"phrase out of order", "", "queue the print", "any", l("print queue"), false},
		{"phrase with a word between", "", "print the queue", "any", l("print queue"), false},
		{"phrase words must be whole", "", "printer queue", "any", l("print queue"), false},
		{"any of several", "paper jam", "", "any", l("toner", "jam"), true},
		{"any of none present", "paper jam", "", "any", l("toner", "fax"), false},
		{"all present", "paper jam", "in tray 2", "all", l("jam", "tray"), true},
		{"all but one present", "paper jam", "in tray 2", "all", l("jam", "toner"), false},
		{"none present", "paper jam", "", "none", l("toner", "fax"), true},
		{"none but one present", "paper jam", "", "none", l("toner", "paper"), false},
		{"accents", "Le café est froid", "", "any", l("café"), true},
		{"accents case-insensitive", "LE CAFÉ EST FROID", "", "any", l("café"), true},
		{"accents matter", "Le café est froid", "", "any", l("cafe"), false},
		{"accented word whole", "Deux cafés", "", "any", l("café"), false},
		{"combining accent is part of the word", "cafe\u0301 noir", "", "any", l("cafe"), false},
		{"combining accent matches itself", "cafe\u0301 noir", "", "any", l("CAFE\u0301"), true},
		{"Greek", "Ο ΕΚΤΥΠΩΤΉΣ δεν λειτουργεί", "", "any", l("εκτυπωτής"), true},
		{"Greek final sigma", "", "ο λογαριασμός μου", "any", l("ΛΟΓΑΡΙΑΣΜΌΣ"), true},
		{"Greek whole word", "Ο εκτυπωτής", "", "any", l("εκτυπωτ"), false},
		{"Cyrillic", "ПРИНТЕР не работает", "", "any", l("принтер"), true},
		{"Cyrillic whole word", "принтера нет", "", "any", l("принтер"), false},
		{"Chinese word", "我的打印机坏了", "", "any", l("打印机"), true},
		{"Chinese as substring", "打印机坏了", "", "any", l("打印"), true},
		{"Chinese absent", "打印机坏了", "", "any", l("扫描"), false},
		{"Chinese none", "打印机坏了", "", "none", l("扫描仪"), true},
		{"Chinese with Latin around", "我的hp打印机坏了", "", "any", l("HP 打印机"), true},
		{"Chinese phrase must be adjacent", "我的hp 其他 打印机坏了", "", "any", l("HP 打印机"), false},
		{"Latin word inside Chinese", "打印机print坏了", "", "any", l("print"), true},
		{"Latin word inside Chinese still whole", "打印机printer坏了", "", "any", l("print"), false},
		{"Japanese katakana with long vowel mark", "プリンターが動きません", "", "any", l("プリンター"), true},
		{"Korean", "프린터가 고장났어요", "", "any", l("프린터"), true},
		{"empty text", "", "", "any", l("print"), false},
		{"empty text none", "", "", "none", l("print"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := Facts{Subject: c.subject, Description: c.desc}
			got := Matches([]Condition{{Field: FieldKeywords, Op: c.op, Value: c.words}}, f)
			if got != c.want {
				t.Fatalf("%s %v in %q + %q: got %v, want %v", c.op, c.words, c.subject, c.desc, got, c.want)
			}
		})
	}
}

func TestConditionsAllMustHold(t *testing.T) {
	f := baseFacts()
	both := []Condition{{FieldChannel, "is", "email"}, {FieldRequesterVIP, "is", true}}
	if !Matches(both, f) {
		t.Fatal("both hold but no match")
	}
	f.VIP = false
	if Matches(both, f) {
		t.Fatal("one fails but matched")
	}
	if !Matches(nil, f) {
		t.Fatal("no conditions must always match")
	}
}

func rule(id int64, kind string, pos int, conds []Condition, a Actions) Rule {
	return Rule{ID: id, Name: fmt.Sprintf("rule %d", id), Kind: kind, Position: pos, Enabled: true, Conditions: conds, Actions: a}
}

func refs(rs ...Rule) []Ref {
	var out []Ref
	for _, r := range rs {
		out = append(out, RefOf(r))
	}
	return out
}

func TestEvaluate(t *testing.T) {
	always := []Condition(nil)
	never := []Condition{{FieldChannel, "is", "api"}}
	email := []Condition{{FieldChannel, "is", "email"}}

	p1 := rule(1, KindPriority, 2, always, Actions{Priority: ptr("low"), Tags: []string{"late"}})
	p5 := rule(5, KindPriority, 1, always, Actions{Priority: ptr("high"), Tags: []string{"early"}})
	p7 := rule(7, KindPriority, 3, email, Actions{Priority: ptr("medium")})
	p3 := rule(3, KindPriority, 3, email, Actions{Priority: ptr("critical"), Tags: []string{"Mail ", "early"}})
	pNever := rule(9, KindPriority, 0, never, Actions{Priority: ptr("critical"), Tags: []string{"never"}})
	pTagOnly := rule(11, KindPriority, 0, always, Actions{Tags: []string{"tagged"}})
	a20 := rule(20, KindAssignment, 1, email, Actions{TeamID: ptr(int64(10)), Priority: ptr("low"), Tags: []string{"desk"}})
	a21 := rule(21, KindAssignment, 2, always, Actions{TeamID: ptr(int64(11)), Tags: []string{"second"}})
	aNever := rule(22, KindAssignment, 0, never, Actions{TeamID: ptr(int64(12))})
	disabled := func(r Rule) Rule { r.Enabled = false; return r }
	criticalOnly := rule(30, KindAssignment, 0, []Condition{{FieldPriority, "at_least", "critical"}}, Actions{TeamID: ptr(int64(13))})
	unknownKind := rule(40, "sla", 0, always, Actions{Priority: ptr("critical"), Tags: []string{"sla"}})
	badPriority := rule(41, KindPriority, 0, always, Actions{Priority: ptr("urgent")})

	cases := []struct {
		name         string
		rules        []Rule
		facts        func(*Facts)
		priority     *string
		priorityRule *Ref
		assignment   int64 // rule id, 0: none
		tags         []string
		matched      []Ref
	}{
		{name: "no rules"},
		{name: "position decides before id", rules: []Rule{p1, p5},
			priority: ptr("high"), priorityRule: ptr(RefOf(p5)), tags: []string{"early", "late"}, matched: refs(p5, p1)},
		{name: "id decides within a position", rules: []Rule{p7, p3},
			priority: ptr("critical"), priorityRule: ptr(RefOf(p3)), tags: []string{"early", "mail"}, matched: refs(p3, p7)},
		{name: "non-matching rules are skipped", rules: []Rule{pNever, p1},
			priority: ptr("low"), priorityRule: ptr(RefOf(p1)), tags: []string{"late"}, matched: refs(p1)},
		{name: "disabled rules are skipped", rules: []Rule{disabled(p5), p1, disabled(a20)},
			priority: ptr("low"), priorityRule: ptr(RefOf(p1)), tags: []string{"late"}, matched: refs(p1)},
		{name: "a matching rule without priority does not decide", rules: []Rule{pTagOnly, p1},
			priority: ptr("low"), priorityRule: ptr(RefOf(p1)), tags: []string{"late", "tagged"}, matched: refs(pTagOnly, p1)},
		{name: "an invalid priority does not decide", rules: []Rule{badPriority, p1},
			priority: ptr("low"), priorityRule: ptr(RefOf(p1)), tags: []string{"late"}, matched: refs(badPriority, p1)},
		{name: "first matching assignment rule wins, later ones are not matched", rules: []Rule{a21, aNever, a20},
			priority: ptr("low"), priorityRule: ptr(RefOf(a20)), assignment: 20, tags: []string{"desk"}, matched: refs(a20)},
		{name: "assignment priority applies when no priority rule set one", rules: []Rule{a20, pNever},
			priority: ptr("low"), priorityRule: ptr(RefOf(a20)), assignment: 20, tags: []string{"desk"}, matched: refs(a20)},
		{name: "priority rule beats assignment priority", rules: []Rule{a20, p5},
			priority: ptr("high"), priorityRule: ptr(RefOf(p5)), assignment: 20, tags: []string{"desk", "early"}, matched: refs(p5, a20)},
		{name: "assignment without priority leaves it undecided", rules: []Rule{a21},
			assignment: 21, tags: []string{"second"}, matched: refs(a21)},
		{name: "assignment sees the decided priority", rules: []Rule{criticalOnly, a21, p3},
			facts:    func(f *Facts) { f.Priority = "low" },
			priority: ptr("critical"), priorityRule: ptr(RefOf(p3)), assignment: 30, tags: []string{"early", "mail"}, matched: refs(p3, criticalOnly)},
		{name: "assignment sees the current priority when none decided", rules: []Rule{criticalOnly, a21},
			facts:      func(f *Facts) { f.Priority = "low" },
			assignment: 21, tags: []string{"second"}, matched: refs(a21)},
		{name: "unknown kinds are skipped", rules: []Rule{unknownKind}},
		{name: "tags of every matching rule, unique and sorted", rules: []Rule{p1, p5, p3, pTagOnly, a20},
			priority: ptr("high"), priorityRule: ptr(RefOf(p5)), assignment: 20,
			tags: []string{"desk", "early", "late", "mail", "tagged"}, matched: refs(pTagOnly, p5, p1, p3, a20)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := baseFacts()
			if c.facts != nil {
				c.facts(&f)
			}
			in := slices.Clone(c.rules)
			out := Evaluate(in, f)
			if !reflect.DeepEqual(out.Priority, c.priority) {
				t.Errorf("priority %v, want %v", deref(out.Priority), deref(c.priority))
			}
			if !reflect.DeepEqual(out.PriorityRule, c.priorityRule) {
				t.Errorf("priority rule %+v, want %+v", out.PriorityRule, c.priorityRule)
			}
			var got int64
			if out.Assignment != nil {
				got = out.Assignment.ID
			}
			if got != c.assignment {
				t.Errorf("assignment rule %d, want %d", got, c.assignment)
			}
			if !slices.Equal(out.Tags, c.tags) {
				t.Errorf("tags %v, want %v", out.Tags, c.tags)
			}
			if !slices.Equal(out.Matched, c.matched) {
				t.Errorf("matched %+v, want %+v", out.Matched, c.matched)
			}
			if !reflect.DeepEqual(in, c.rules) {
				t.Errorf("Evaluate reordered or changed its input")
			}
		})
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestEvaluateResultsAreCopies(t *testing.T) {
	rs := []Rule{
		rule(1, KindPriority, 0, nil, Actions{Priority: ptr("high")}),
		rule(2, KindAssignment, 0, nil, Actions{TeamID: ptr(int64(10))}),
	}
	out := Evaluate(rs, Facts{})
	*out.Priority = "low"
	out.Assignment.Name = "changed"
	if *rs[0].Actions.Priority != "high" || rs[1].Name != "rule 2" {
		t.Fatalf("outcome aliases the rules: %+v", rs)
	}
}

// benchRules builds n rules shaped like a real help desk's: mostly
// keyword and category conditions, a few custom field tests, the one that
// matches near the end.
func benchRules(n int) []Rule {
	rs := make([]Rule, 0, n)
	for i := range n {
		id := int64(i + 1)
		var conds []Condition
		switch i % 5 {
		case 0:
			conds = []Condition{{FieldKeywords, "any", l(fmt.Sprintf("word%d", i), "outage now", "服务器宕机")}}
		case 1:
			conds = []Condition{{FieldCategory, "under", float64(100 + i)}, {FieldChannel, "in", l("web", "api")}}
		case 2:
			conds = []Condition{{"cf.os", "in", l("mac", "windows")}, {FieldPriority, "at_least", "high"}}
		case 3:
			conds = []Condition{{FieldKeywords, "all", l("printer", fmt.Sprintf("floor %d", i))}}
		default:
			conds = []Condition{{FieldRequesterOrganization, "in", l(float64(500+i), float64(600+i))}, {"cf.seats", "gt", float64(1000)}}
		}
		kind, a := KindPriority, Actions{Priority: ptr("high"), Tags: []string{"t"}}
		if i >= n*4/5 {
			kind, a = KindAssignment, Actions{TeamID: ptr(int64(10)), Tags: []string{"a"}}
		}
		rs = append(rs, rule(id, kind, n-i, conds, a))
	}
	rs = append(rs, rule(int64(n+1), KindAssignment, n+1, []Condition{{FieldKeywords, "any", l("print queue")}}, Actions{TeamID: ptr(int64(11))}))
	return rs
}

func BenchmarkEvaluate(b *testing.B) {
	rs := benchRules(49)
	f := baseFacts()
	f.Description = strings.Repeat("The print queue on the third floor has been stuck since this morning. ", 20)
	out := Evaluate(rs, f)
	if out.Assignment == nil || out.Assignment.ID != 50 || len(out.Matched) != 1 {
		b.Fatalf("unexpected outcome: %+v", out)
	}
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(rs, f)
	}
}
