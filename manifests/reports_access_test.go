package manifests

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	securityv1 "istio.io/api/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshmirror/meshmirror/internal/reports"
)

// TestReportsAccess checks, in every kustomization that deploys the reports receiver,
// what SPEC's "Reports receiver" asks of the mesh: a PeerAuthentication in STRICT mode
// for its pods; an ALLOW AuthorizationPolicy for them with one rule, POST of the
// reports' path only, from sources that include every workload whose plugin reports
// to it; and -host flags with every name of its Service, the plugin's :authority
// among them, or the receiver would answer the reports 421.
func TestReportsAccess(t *testing.T) {
	deployed, reporters := 0, 0
	for _, dir := range kustomizations(t) {
		objects := build(t, dir)
		m := index(t, objects)
		for _, d := range m.deployments {
			if d.Name != "meshmirror-reports" {
				continue
			}
			deployed++
			t.Run(dir, func(t *testing.T) { reporters += checkReportsAccess(t, m, objects, d) })
		}
	}
	if deployed == 0 || reporters == 0 {
		t.Fatalf("%d kustomizations deploy the receiver meshmirror-reports, and %d plugin targets report to one; want some of each", deployed, reporters)
	}
}

// checkReportsAccess checks the receiver d of one kustomization, and returns how many
// plugin targets report to it.
func checkReportsAccess(t *testing.T, m *mesh, objects []object, d *appsv1.Deployment) int {
	pods := labels.Set(d.Spec.Template.Labels)
	var peer []*securityv1.PeerAuthentication
	var allow []*securityv1.AuthorizationPolicy
	for _, o := range objects {
		md, _ := o["metadata"].(map[string]any)
		if ns, _ := md["namespace"].(string); ns != d.Namespace {
			continue
		}
		switch o.gvk().Kind {
		case "PeerAuthentication":
			p := &securityv1.PeerAuthentication{}
			if err := decodeSpec(o, p); err != nil {
				t.Fatalf("%s: %v", o.id(), err)
			}
			if labels.SelectorFromSet(p.GetSelector().GetMatchLabels()).Matches(pods) {
				peer = append(peer, p)
			}
		case "AuthorizationPolicy":
			p := &securityv1.AuthorizationPolicy{}
			if err := decodeSpec(o, p); err != nil {
				t.Fatalf("%s: %v", o.id(), err)
			}
			if labels.SelectorFromSet(p.GetSelector().GetMatchLabels()).Matches(pods) {
				allow = append(allow, p)
			}
		}
	}
	if len(peer) != 1 || peer[0].GetMtls().GetMode() != securityv1.PeerAuthentication_MutualTLS_STRICT || len(peer[0].GetPortLevelMtls()) > 0 {
		t.Errorf("want one PeerAuthentication in STRICT mode (for every port) selecting the receiver's pods %v; got %v", pods, peer)
	}
	if len(allow) != 1 {
		t.Errorf("want one AuthorizationPolicy selecting the receiver's pods %v, got %d", pods, len(allow))
		return 0
	}
	p := allow[0]
	if p.GetAction() != securityv1.AuthorizationPolicy_ALLOW || len(p.GetRules()) != 1 {
		t.Errorf("AuthorizationPolicy: action %v with %d rules; want ALLOW with one rule (all else denied)", p.GetAction(), len(p.GetRules()))
		return 0
	}
	rule := p.GetRules()[0]
	if len(rule.GetTo()) != 1 || !slices.Equal(rule.GetTo()[0].GetOperation().GetMethods(), []string{"POST"}) ||
		!slices.Equal(rule.GetTo()[0].GetOperation().GetPaths(), []string{reports.Path}) || len(rule.GetWhen()) > 0 {
		t.Errorf("the rule allows %v; want POST %s only", rule.GetTo(), reports.Path)
	}
	if len(rule.GetFrom()) == 0 {
		t.Error("the rule has no from: anyone may post")
		return 0
	}

	var services []*corev1.Service
	for _, s := range m.services {
		if s.Namespace == d.Namespace && len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(pods) {
			services = append(services, s)
		}
	}
	if len(services) == 0 {
		t.Error("no Service selects the receiver's pods")
		return 0
	}
	hosts := hostFlags(t, d)
	for _, s := range services {
		for _, name := range []string{s.Name, s.Name + "." + s.Namespace, s.Name + "." + s.Namespace + ".svc", s.Name + "." + s.Namespace + ".svc.cluster.local"} {
			if !slices.Contains(hosts, name) {
				t.Errorf("the receiver's args %q lack -host %s: a client that names Service %s so is answered 421", d.Spec.Template.Spec.Containers[0].Args, name, s.Name)
			}
		}
	}

	// Each workload that reports here may post: its plugin's namespace, or its
	// service accounts' principals, are among the rule's sources.
	reporters := 0
	for _, plugin := range m.plugins {
		config, err := parsePluginConfig(plugin.spec)
		if err != nil {
			t.Fatalf("%s %s: %v", plugin.kind, plugin.name, err)
		}
		for _, target := range config.Targets {
			c := target.Compare
			if c == nil || c.ReportCluster == "" {
				continue
			}
			parts := strings.Split(c.ReportCluster, "|")
			if len(parts) != 4 || !slices.ContainsFunc(services, func(s *corev1.Service) bool { return parts[3] == s.Name+"."+s.Namespace+".svc.cluster.local" }) {
				continue
			}
			reporters++
			if !slices.Contains(hosts, parts[3]) {
				t.Errorf("%s %s, target %s: its reports' :authority %s is no -host of the receiver: each would be answered 421", plugin.kind, plugin.name, target.Name, parts[3])
			}
			selector := labels.SelectorFromSet(plugin.spec.GetSelector().GetMatchLabels())
			for _, w := range m.deployments {
				if w.Namespace != plugin.namespace || !selector.Matches(labels.Set(w.Spec.Template.Labels)) {
					continue
				}
				sa := w.Spec.Template.Spec.ServiceAccountName
				if sa == "" {
					sa = "default"
				}
				if !slices.ContainsFunc(rule.GetFrom(), func(f *securityv1.Rule_From) bool { return allowsPeer(f.GetSource(), w.Namespace, sa) }) {
					t.Errorf("Deployment %s/%s (service account %s) runs %s %s, which reports to the receiver, but the AuthorizationPolicy does not let it post: %v", w.Namespace, w.Name, sa, plugin.kind, plugin.name, rule.GetFrom())
				}
			}
		}
	}
	return reporters
}

// hostFlags returns the values of -host in the receiver's container args, each
// checked as meshmirror reports checks it.
func hostFlags(t *testing.T, d *appsv1.Deployment) []string {
	var hosts []string
	args := d.Spec.Template.Spec.Containers[0].Args
	for i, a := range args {
		if (a == "-host" || a == "--host") && i+1 < len(args) {
			if err := reports.CheckHostName(args[i+1]); err != nil {
				t.Errorf("the receiver's -host %s: %v", args[i+1], err)
			}
			hosts = append(hosts, args[i+1])
		}
	}
	return hosts
}

// allowsPeer reports whether an AuthorizationPolicy source matches every mTLS peer
// of service account sa in namespace, as Istio matches one: namespaces or principals
// (cluster.local/ns/<ns>/sa/<sa>, Istio's default trust domain), each exact or with a
// leading or trailing *; no not* field may exclude it, and no other field narrow it.
func allowsPeer(s *securityv1.Source, namespace, sa string) bool {
	match := func(values []string, v string) bool {
		return slices.ContainsFunc(values, func(p string) bool {
			switch {
			case p == "*":
				return true
			case strings.HasSuffix(p, "*"):
				return strings.HasPrefix(v, strings.TrimSuffix(p, "*"))
			case strings.HasPrefix(p, "*"):
				return strings.HasSuffix(v, strings.TrimPrefix(p, "*"))
			}
			return p == v
		})
	}
	principal := "cluster.local/ns/" + namespace + "/sa/" + sa
	if len(s.GetNamespaces()) == 0 && len(s.GetPrincipals()) == 0 || len(s.GetIpBlocks()) > 0 || len(s.GetRemoteIpBlocks()) > 0 || len(s.GetRequestPrincipals()) > 0 {
		return false
	}
	return (len(s.GetNamespaces()) == 0 || match(s.GetNamespaces(), namespace)) &&
		(len(s.GetPrincipals()) == 0 || match(s.GetPrincipals(), principal)) &&
		!match(s.GetNotNamespaces(), namespace) && !match(s.GetNotPrincipals(), principal)
}

// TestREADMEReportsPatch applies the README's patch that changes who may post, as an
// operator would (a kustomization of their own over manifests/reports/), and checks
// that it is one patch that yields a valid AuthorizationPolicy naming the principals
// it says, at the newest and the oldest Istio claimed.
func TestREADMEReportsPatch(t *testing.T) {
	readme := string(mustRead(t, "../README.md"))
	text := section(t, readme, "### Who may post, who may read")
	_, block, found := strings.Cut(text, "```yaml\n")
	block, _, found2 := strings.Cut(block, "```")
	if !found || !found2 {
		t.Fatal(`README "Who may post, who may read" has no yaml block`)
	}
	const base = "github.com/meshmirror/meshmirror/manifests/reports"
	if strings.Count(block, "- op:") != 1 || !strings.Contains(block, base) {
		t.Fatalf("the README's kustomization is not one patch over %s:\n%s", base, block)
	}
	dir := t.TempDir()
	abs, err := filepath.Abs("reports")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, abs) // kustomize takes no absolute root
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(strings.Replace(block, base, rel, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	objects := build(t, dir)
	for _, v := range []*validator{newValidator(t), newValidatorAt(t, downloadModule(t, "istio.io/api", "v1.22.0"), "")} {
		for _, o := range objects {
			for _, problem := range v.validate(o) {
				t.Errorf("the README's patch: %s: %s", o.id(), problem)
			}
		}
	}
	for _, o := range objects {
		if o.gvk().Kind != "AuthorizationPolicy" {
			continue
		}
		p := &securityv1.AuthorizationPolicy{}
		if err := decodeSpec(o, p); err != nil {
			t.Fatal(err)
		}
		src := p.GetRules()[0].GetFrom()[0].GetSource()
		if !allowsPeer(src, "shop", "reviews") || allowsPeer(src, "shop", "ratings") || allowsPeer(src, "meshmirror-demo", "default") {
			t.Errorf("after the README's patch the source is %v; want the service account reviews of shop only", src)
		}
		return
	}
	t.Error("the README's kustomization has no AuthorizationPolicy")
}
