// Package inventory reads Ansible inventories unchanged: INI and YAML files,
// directories of them, and "host1,host2," lists, with group_vars/ and
// host_vars/ beside the inventory and beside the playbook. It resolves every
// host's variables in Ansible's order of precedence, resolves the connection
// variables users already set (ansible_host, ansible_port, ansible_user, ...)
// into a typed Connection, and selects hosts with Ansible's host patterns.
//
// Every host, group and variable keeps the file:line:col it came from, and
// every problem is reported at its position, all of them at once.
//
// # Variable precedence
//
// From lowest to highest, later layers replacing whole top-level values
// (Ansible's default hash_behaviour=replace):
//
//  1. variables of the group all set in the inventory files ([all:vars],
//     all: vars:)
//  2. variables of the host's other groups set in the inventory files, the
//     groups sorted by depth (parents before children), then by
//     ansible_group_priority, then by name
//  3. group_vars/all beside each inventory source, in the order of the
//     sources
//  4. group_vars/all beside the playbook
//  5. group_vars/GROUP beside each inventory source, sources in order and,
//     within a source, groups sorted as in 2
//  6. group_vars/GROUP beside the playbook, groups sorted as in 2
//  7. the host's own variables set in the inventory files (inline on a
//     host line, or under hosts: in YAML); a later definition of the same
//     host replaces an earlier value
//  8. host_vars/HOST beside each inventory source
//  9. host_vars/HOST beside the playbook
//
// This is the order of ansible-core's VariableManager with the default
// VARIABLE_PRECEDENCE. Play variables, facts and extra vars come later, in
// the engine.
package inventory

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Inventory is a parsed inventory: hosts and groups in the order they first
// appear in the sources, each host with its resolved variables and
// connection. It is safe for concurrent use once loaded.
type Inventory struct {
	// Sources are the inventory sources as given to Load (or the name given
	// to Parse).
	Sources []string
	// Warnings are problems that do not stop a run, where Ansible warns
	// too. Callers should print them.
	Warnings Errors

	hosts    []*Host
	hostMap  map[string]*Host
	groups   []*Group
	groupMap map[string]*Group

	varsDirs    []string // inventory-adjacent vars roots, in source order
	playbookDir string
	files       *varsFiles

	mu       sync.Mutex
	implicit map[string]*Host
	cache    map[string]*selection

	groupsOnce sync.Once
	groupsVar  map[string][]string
}

// Group is one group. The groups all and ungrouped always exist.
type Group struct {
	Name string
	// Pos is where the group is first declared; zero for all and
	// ungrouped unless a source declares them.
	Pos Pos
	// Vars are the variables set for the group in the inventory files
	// themselves ([group:vars] or vars: in YAML), not from group_vars/.
	Vars map[string]any
	// VarPos says where each of Vars was set.
	VarPos map[string]Pos
	// Parents and Children are direct relations, in order of appearance.
	// Every group but all has at least one parent: all, when no other.
	Parents, Children []string
	// Hosts are the direct members, in the order they joined the group.
	Hosts []string
	// Depth is the length of the longest path from all (all is 0).
	Depth int
	// Priority is ansible_group_priority (default 1): among groups of the
	// same depth, variables of a higher priority group win.
	Priority int

	childPos map[string]Pos
	hostSet  map[string]bool
	order    int
}

// Host is one host with everything resolved.
type Host struct {
	// Name is the inventory name (inventory_hostname).
	Name string
	// Pos is where the host is first defined.
	Pos Pos
	// Vars are the host's variables resolved in precedence order (see the
	// package documentation), including the ansible_* ones.
	Vars map[string]any
	// VarPos says where each of Vars got its value.
	VarPos map[string]Pos
	// Groups are the host's groups, direct and inherited, sorted, without
	// all: Ansible's group_names.
	Groups []string
	// Conn is the connection resolved from Vars. When ConnErr is set, Conn
	// holds what could be resolved and the host must not be contacted.
	Conn Connection
	// ConnErr reports invalid connection variables, at their position.
	ConnErr error
	// Implicit is true for the implicit localhost that a pattern naming
	// localhost selects when the inventory has no such host.
	Implicit bool

	index     int
	source    string
	direct    []string // direct groups, in order
	inline    map[string]any
	inlinePos map[string]Pos
}

// String returns the host's name.
func (h *Host) String() string { return h.Name }

// Hosts returns every host in inventory order (order of first definition).
// The implicit localhost is not among them.
func (inv *Inventory) Hosts() []*Host { return append([]*Host(nil), inv.hosts...) }

// Host returns the host with this name, or nil.
func (inv *Inventory) Host(name string) *Host { return inv.hostMap[name] }

// Groups returns every group in order of first appearance, all and
// ungrouped first.
func (inv *Inventory) Groups() []*Group { return append([]*Group(nil), inv.groups...) }

// Group returns the group with this name, or nil.
func (inv *Inventory) Group(name string) *Group { return inv.groupMap[name] }

// GroupHosts returns the hosts of a group and of all its descendants, in
// inventory order, or nil when there is no such group.
func (inv *Inventory) GroupHosts(name string) []*Host {
	g := inv.groupMap[name]
	if g == nil {
		return nil
	}
	if name == "all" {
		return inv.Hosts()
	}
	seen := map[*Host]bool{}
	var walk func(g *Group, visited map[string]bool)
	walk = func(g *Group, visited map[string]bool) {
		if visited[g.Name] {
			return
		}
		visited[g.Name] = true
		for _, h := range g.Hosts {
			seen[inv.hostMap[h]] = true
		}
		for _, c := range g.Children {
			walk(inv.groupMap[c], visited)
		}
	}
	walk(g, map[string]bool{})
	return inv.inOrder(seen)
}

func (inv *Inventory) inOrder(set map[*Host]bool) []*Host {
	out := make([]*Host, 0, len(set))
	var implicit []*Host
	for h := range set {
		if h.Implicit {
			implicit = append(implicit, h)
			continue
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].index < out[j].index })
	sort.Slice(implicit, func(i, j int) bool { return implicit[i].Name < implicit[j].Name })
	return append(out, implicit...)
}

// MagicVars returns the variables Ansible derives from the inventory for a
// host: inventory_hostname, inventory_hostname_short, group_names, groups
// (every group's hosts, by name, in inventory order), inventory_file and
// inventory_dir (of the source that first defined the host; empty for the
// implicit localhost and host lists). The groups map is shared by all
// hosts: do not modify it.
func (inv *Inventory) MagicVars(h *Host) map[string]any {
	short := h.Name
	if !isIPAddress(short) {
		short, _, _ = strings.Cut(short, ".")
	}
	inv.groupsOnce.Do(func() {
		inv.groupsVar = map[string][]string{}
		for _, g := range inv.groups {
			names := []string{}
			for _, gh := range inv.GroupHosts(g.Name) {
				names = append(names, gh.Name)
			}
			inv.groupsVar[g.Name] = names
		}
	})
	dir := ""
	if h.source != "" {
		dir = filepath.Dir(h.source)
	}
	return map[string]any{
		"inventory_hostname":       h.Name,
		"inventory_hostname_short": short,
		"group_names":              append([]string{}, h.Groups...),
		"groups":                   inv.groupsVar,
		"inventory_file":           h.source,
		"inventory_dir":            dir,
	}
}

// builder accumulates sources into one inventory, as Ansible's
// InventoryData does, then finish resolves it.
type builder struct {
	inv     *Inventory
	errs    Errors
	warns   Errors
	members int              // host memberships of groups so far
	tooMany bool             // maxHosts or maxMembers was reached
	dirs    map[dirID]string // the directories read, by the path first read
}

// maxHosts and maxMembers bound what one inventory may define, so that a
// few lines of ranges cannot fill the memory. Variables only so that tests
// can reach them with small inputs.
var (
	maxHosts   = 100_000
	maxMembers = 1_000_000
)

func newBuilder() *builder {
	inv := &Inventory{hostMap: map[string]*Host{}, groupMap: map[string]*Group{}}
	b := &builder{inv: inv}
	b.group("all", Pos{})
	b.group("ungrouped", Pos{})
	return b
}

// group returns the named group, creating it at pos.
func (b *builder) group(name string, pos Pos) *Group {
	if g := b.inv.groupMap[name]; g != nil {
		if g.Pos.IsZero() {
			g.Pos = pos
		}
		return g
	}
	g := &Group{Name: name, Pos: pos, Vars: map[string]any{}, VarPos: map[string]Pos{}, Priority: 1,
		childPos: map[string]Pos{}, hostSet: map[string]bool{}, order: len(b.inv.groups)}
	b.inv.groups = append(b.inv.groups, g)
	b.inv.groupMap[name] = g
	return g
}

// addHost adds a host (creating it at pos) to group g; port, when non-zero,
// becomes ansible_port of a new host, as in Ansible.
func (b *builder) addHost(name string, g *Group, pos Pos, source string, port int, portPos Pos) *Host {
	h := b.inv.hostMap[name]
	if h == nil && len(b.inv.hosts) >= maxHosts || b.members >= maxMembers {
		if !b.tooMany {
			b.tooMany = true
			b.errs.Add(pos, "the inventory defines more than %d hosts or %d group memberships: provision stops reading here", maxHosts, maxMembers)
		}
		return &Host{Name: name, inline: map[string]any{}, inlinePos: map[string]Pos{}}
	}
	if h == nil {
		h = &Host{Name: name, Pos: pos, index: len(b.inv.hosts), source: source,
			inline: map[string]any{}, inlinePos: map[string]Pos{}}
		b.inv.hosts = append(b.inv.hosts, h)
		b.inv.hostMap[name] = h
		if port != 0 {
			b.setHostVar(h, "ansible_port", port, portPos)
		}
	}
	if g != nil && !g.hostSet[name] {
		b.members++
		g.hostSet[name] = true
		g.Hosts = append(g.Hosts, name)
		h.direct = append(h.direct, g.Name)
	}
	return h
}

func (b *builder) setHostVar(h *Host, k string, v any, pos Pos) {
	h.inline[k] = v
	h.inlinePos[k] = pos
}

func (b *builder) setGroupVar(g *Group, k string, v any, pos Pos) {
	if k == "ansible_group_priority" {
		n, ok := toInt(v)
		if !ok {
			b.errs.Add(pos, "ansible_group_priority: want a number, found %s", describe(v))
			return
		}
		g.Priority = n
		return
	}
	g.Vars[k] = v
	g.VarPos[k] = pos
}

// addChild records child as a direct child of parent.
func (b *builder) addChild(parent, child *Group, pos Pos) {
	if parent == child {
		b.errs.Add(pos, "group %q cannot be a child of itself", child.Name)
		return
	}
	if child.Name == "all" {
		b.errs.Add(pos, "group \"all\" cannot be a child of group %q: every group is already under all", parent.Name)
		return
	}
	if _, dup := parent.childPos[child.Name]; dup {
		return
	}
	parent.childPos[child.Name] = pos
	parent.Children = append(parent.Children, child.Name)
	child.Parents = append(child.Parents, parent.Name)
}

// finish reconciles the inventory as Ansible's reconcile_inventory does and
// resolves every host.
func (b *builder) finish() (*Inventory, error) {
	inv := b.inv
	if b.checkCycles() {
		return nil, dedupe(b.errs).Sort()
	}
	all, ungrouped := inv.groupMap["all"], inv.groupMap["ungrouped"]
	for _, g := range inv.groups {
		if g != all && len(g.Parents) == 0 {
			b.addChild(all, g, Pos{})
		}
	}
	// ungrouped holds exactly the hosts with no group but all and ungrouped.
	for _, h := range inv.hosts {
		other := false
		for _, d := range h.direct {
			if d != "all" && d != "ungrouped" {
				other = true
			}
		}
		if other && ungrouped.hostSet[h.Name] {
			delete(ungrouped.hostSet, h.Name)
			h.direct = remove(h.direct, "ungrouped")
		}
		if !other && !ungrouped.hostSet[h.Name] {
			ungrouped.hostSet[h.Name] = true
			ungrouped.Hosts = append(ungrouped.Hosts, h.Name)
			h.direct = append(h.direct, "ungrouped")
		}
	}
	// Drop the hosts that moved to a group, in one pass: removing them
	// one by one is quadratic in the hosts of a large range.
	ungrouped.Hosts = slices.DeleteFunc(ungrouped.Hosts, func(n string) bool { return !ungrouped.hostSet[n] })
	sort.SliceStable(ungrouped.Hosts, func(i, j int) bool {
		return inv.hostMap[ungrouped.Hosts[i]].index < inv.hostMap[ungrouped.Hosts[j]].index
	})
	depth := map[string]int{}
	var depthOf func(g *Group) int
	depthOf = func(g *Group) int {
		if d, ok := depth[g.Name]; ok {
			return d
		}
		d := 0
		for _, p := range g.Parents {
			if pd := depthOf(inv.groupMap[p]) + 1; pd > d {
				d = pd
			}
		}
		depth[g.Name] = d
		return d
	}
	for _, g := range inv.groups {
		g.Depth = depthOf(g)
	}
	for _, h := range inv.hosts {
		h.Groups = inv.ancestry(h.direct)
		if g := inv.groupMap[h.Name]; g != nil {
			b.warns.Add(h.Pos, "found both a group and a host named %q", h.Name)
		}
	}
	inv.Warnings = append(inv.Warnings, b.warns...)
	for _, h := range inv.hosts {
		if err := inv.resolve(h); err != nil {
			b.errs = append(b.errs, err...)
		}
	}
	b.errs = append(b.errs, inv.addImplicitHosts()...)
	inv.warnUnusedVarsFiles()
	if len(b.errs) > 0 {
		return nil, dedupe(b.errs).Sort()
	}
	inv.Warnings = dedupe(inv.Warnings).Sort()
	return inv, nil
}

// ancestry returns the sorted names of the given groups and all their
// ancestors, without all.
func (inv *Inventory) ancestry(direct []string) []string {
	seen := map[string]bool{}
	var up func(name string)
	up = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		for _, p := range inv.groupMap[name].Parents {
			up(p)
		}
	}
	for _, d := range direct {
		up(d)
	}
	delete(seen, "all")
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// sortGroups orders group names as Ansible's sort_groups: by depth, then
// priority, then name; variables of later groups win.
func (inv *Inventory) sortGroups(names []string) []*Group {
	gs := make([]*Group, len(names))
	for i, n := range names {
		gs[i] = inv.groupMap[n]
	}
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.Depth != b.Depth {
			return a.Depth < b.Depth
		}
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		return a.Name < b.Name
	})
	return gs
}

// checkCycles reports every group that is its own ancestor, at the
// position of the :children entry (or children: key) that closes the loop.
func (b *builder) checkCycles() (found bool) {
	inv := b.inv
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(g *Group)
	visit = func(g *Group) {
		color[g.Name] = grey
		stack = append(stack, g.Name)
		for _, c := range g.Children {
			switch color[c] {
			case grey:
				i := len(stack) - 1
				for stack[i] != c {
					i--
				}
				loop := append(append([]string{}, stack[i:]...), c)
				found = true
				b.errs.Add(g.childPos[c], "group %q is its own ancestor: %s (each the parent of the next)", c, strings.Join(loop, " > "))
			case white:
				visit(inv.groupMap[c])
			}
		}
		stack = stack[:len(stack)-1]
		color[g.Name] = black
	}
	for _, g := range inv.groups {
		if color[g.Name] == white {
			visit(g)
		}
	}
	return found
}

// resolve computes h.Vars, h.VarPos and h.Conn.
func (inv *Inventory) resolve(h *Host) Errors {
	var errs Errors
	vars, pos := map[string]any{}, map[string]Pos{}
	layer := func(vals map[string]any, at map[string]Pos) {
		for k, v := range vals {
			vars[k] = v
			pos[k] = at[k]
		}
	}
	file := func(path string) {
		f := inv.files.load(path)
		if f.err != nil {
			errs = append(errs, f.err...)
			return
		}
		layer(f.vals, f.pos)
	}
	groups := inv.sortGroups(h.Groups)
	all := inv.groupMap["all"]
	layer(all.Vars, all.VarPos)
	for _, g := range groups {
		layer(g.Vars, g.VarPos)
	}
	for _, d := range inv.varsDirs {
		for _, p := range inv.files.find(d, "group_vars", "all") {
			file(p)
		}
	}
	if inv.playbookDir != "" {
		for _, p := range inv.files.find(inv.playbookDir, "group_vars", "all") {
			file(p)
		}
	}
	for _, d := range inv.varsDirs {
		for _, g := range groups {
			for _, p := range inv.files.find(d, "group_vars", g.Name) {
				file(p)
			}
		}
	}
	if inv.playbookDir != "" {
		for _, g := range groups {
			for _, p := range inv.files.find(inv.playbookDir, "group_vars", g.Name) {
				file(p)
			}
		}
	}
	layer(h.inline, h.inlinePos)
	for _, d := range inv.varsDirs {
		for _, p := range inv.files.find(d, "host_vars", h.Name) {
			file(p)
		}
	}
	if inv.playbookDir != "" {
		for _, p := range inv.files.find(inv.playbookDir, "host_vars", h.Name) {
			file(p)
		}
	}
	h.Vars, h.VarPos = vars, pos
	var notes []string
	h.Conn, notes, h.ConnErr = resolveConnection(h.Name, vars, pos)
	for _, n := range notes {
		inv.Warnings = append(inv.Warnings, &Error{Pos: pos["ansible_connection"], Msg: n})
	}
	return errs
}

// localhostNames are the names Ansible treats as the implicit localhost
// (C.LOCALHOST).
var localhostNames = []string{"localhost", "127.0.0.1", "::1"}

func isLocalhost(name string) bool {
	for _, n := range localhostNames {
		if n == name {
			return true
		}
	}
	return false
}

// addImplicitHosts prepares the implicit localhost under each name the
// inventory does not define: a pattern naming it selects a host in no
// group, with the variables of all, its own host_vars and
// ansible_connection=local, as in Ansible.
func (inv *Inventory) addImplicitHosts() Errors {
	var errs Errors
	inv.implicit = map[string]*Host{}
	for _, name := range localhostNames {
		if inv.hostMap[name] != nil {
			continue
		}
		h := &Host{Name: name, Implicit: true, index: -1, Groups: []string{},
			inline: map[string]any{"ansible_connection": "local"}, inlinePos: map[string]Pos{}}
		errs = append(errs, inv.resolve(h)...)
		inv.implicit[name] = h
	}
	return errs
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func dedupe(es Errors) Errors {
	seen := map[string]bool{}
	var out Errors
	for _, e := range es {
		if k := e.Error(); !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case uint64:
		return int(x), true
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil
	}
	return 0, false
}

// describe names the type of a value for messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", x)
	case bool:
		return fmt.Sprintf("a boolean (%v)", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case int, int64, uint64, float64:
		return fmt.Sprintf("the number %v", x)
	}
	return fmt.Sprintf("%T", v)
}
