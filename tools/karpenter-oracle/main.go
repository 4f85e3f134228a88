// karpenter-oracle runs Karpenter's own provisioning (sigs.k8s.io/karpenter: its NodeOverlay
// controller, the Provisioner and its scheduler) on the inputs `gpuslice plan` reads, and prints
// the NodeClaims it would launch and their cost per scenario as JSON:
//
//	whole   the workloads as written, without gpuslice's NodeOverlays
//	sliced  with gpuslice's NodeOverlays (label app.kubernetes.io/managed-by: gpuslice), pods'
//	        nvidia.com/gpu requests turned into the slice resource those overlays declare
//
// It is test tooling for gpuslice, never part of the product: gpuslice's agreement test
// (ctest -L karpenter) compares its answers with `gpuslice plan`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"gpuslice.io/tools/karpenter-oracle/catalog"
	"sigs.k8s.io/karpenter/pkg/apis/v1alpha1"
	"sigs.k8s.io/karpenter/pkg/operator/options"
)

const usage = `usage: karpenter-oracle --catalog FILE [--scenario whole|sliced|both] [--deadline 10m] PATH...
       karpenter-oracle --catalog FILE --batch LIST
       karpenter-oracle --emit-pods whole|sliced PATH...
       karpenter-oracle --free-ports N | --compare-cluster PLAN.json ORACLE.json NODECLAIMS.json

PATH: manifest files or directories (Pod, Deployment, ReplicaSet, StatefulSet, Job, CronJob,
DaemonSet, NodePool, NodeOverlay), as gpuslice plan reads them. With --batch, LIST names one
case per line: an output file, a tab, and the case's paths separated by tabs; each case's JSON
goes to its output file. --emit-pods prints the scenario's pods as Pod manifests (what a
cluster would hold: requests defaulted, slices asked for in the sliced scenario).
`

type scenarioResult struct {
	Name          string          `json:"name"`
	CostPerHour   float64         `json:"costPerHour"`
	NodeCount     int             `json:"nodeCount"`
	Nodes         []nodeGroup     `json:"nodes"`
	PodsPlaced    int             `json:"podsPlaced"`
	Unschedulable []unschedulable `json:"unschedulable"`
	Unprocessed   int             `json:"unprocessed"`
	NodeClaims    []nodeClaim     `json:"nodeClaims"`
	Warnings      []string        `json:"warnings"`
	SolveSeconds  float64         `json:"solveSeconds"`
}

type nodeGroup struct {
	NodePool     string  `json:"nodePool"`
	InstanceType string  `json:"instanceType"`
	Count        int     `json:"count"`
	CostPerHour  float64 `json:"costPerHour"`
}

type report struct {
	Karpenter string           `json:"karpenter"`
	Pods      int              `json:"pods"`
	Scenarios []scenarioResult `json:"scenarios"`
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func karpenterVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "sigs.k8s.io/karpenter" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

type config struct {
	catalog   *catalog.Catalog
	scenarios []string
	deadline  time.Duration
}

func main() {
	ctrllog.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	catalog.RegisterAWSLabels()

	fs := flag.NewFlagSet("karpenter-oracle", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	catalogPath := fs.String("catalog", "", "instance catalog CSV (gpuslice's columns)")
	scenario := fs.String("scenario", "both", "whole, sliced or both")
	deadline := fs.Duration("deadline", 10*time.Minute, "how long one solve may take")
	batch := fs.String("batch", "", "a file listing cases, one per line")
	emit := fs.String("emit-pods", "", "print the pods of this scenario as manifests")
	ports := fs.Int("free-ports", 0, "print this many free loopback ports (cluster-check.sh)")
	compare := fs.Bool("compare-cluster", false, "compare PLAN.json ORACLE.json NODECLAIMS.json (cluster-check.sh)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if *ports > 0 {
		if err := freePorts(*ports, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "karpenter-oracle: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *compare {
		if fs.NArg() != 3 {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		same, err := compareCluster(fs.Arg(0), fs.Arg(1), fs.Arg(2), os.Stdout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "karpenter-oracle: %v\n", err)
			os.Exit(2)
		}
		if !same {
			os.Exit(1)
		}
		return
	}
	if *emit != "" {
		if err := emitPods(*emit, fs.Args(), os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "karpenter-oracle: %v\n", err)
			os.Exit(2)
		}
		return
	}
	if *catalogPath == "" || (fs.NArg() == 0) == (*batch == "") {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cfg := config{deadline: *deadline}
	switch *scenario {
	case "whole", "sliced":
		cfg.scenarios = []string{*scenario}
	case "both":
		cfg.scenarios = []string{"whole", "sliced"}
	default:
		fmt.Fprintf(os.Stderr, "karpenter-oracle: --scenario: %q is not whole, sliced or both\n", *scenario)
		os.Exit(2)
	}
	var err error
	if cfg.catalog, err = catalog.Read(*catalogPath); err != nil {
		fmt.Fprintf(os.Stderr, "karpenter-oracle: %v\n", err)
		os.Exit(2)
	}
	kopts, err := karpenterOptions()
	if err != nil {
		fmt.Fprintf(os.Stderr, "karpenter-oracle: %v\n", err)
		os.Exit(1)
	}
	ctx := options.ToContext(context.Background(), kopts)

	if *batch == "" {
		if err := runCase(ctx, cfg, fs.Args(), os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "karpenter-oracle: %v\n", err)
			os.Exit(2)
		}
		return
	}
	list, err := os.ReadFile(*batch)
	if err != nil {
		fmt.Fprintf(os.Stderr, "karpenter-oracle: %v\n", err)
		os.Exit(2)
	}
	failed := false
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) < 2 {
			fmt.Fprintf(os.Stderr, "karpenter-oracle: %s: %q is not OUTPUT<tab>PATH...\n", *batch, line)
			os.Exit(2)
		}
		if err := runCaseToFile(ctx, cfg, fields[1:], fields[0]); err != nil {
			fmt.Fprintf(os.Stderr, "karpenter-oracle: %s: %v\n", fields[0], err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func runCaseToFile(ctx context.Context, cfg config, paths []string, output string) error {
	f, err := os.Create(output)
	if err != nil {
		return err
	}
	if err := runCase(ctx, cfg, paths, f); err != nil {
		f.Close()
		os.Remove(output)
		return err
	}
	return f.Close()
}

// scenarioInputs returns the NodeOverlays Karpenter sees and the pods the cluster holds in
// scenario `name`.
func scenarioInputs(in *manifests, name string) ([]*v1alpha1.NodeOverlay, []*corev1.Pod, error) {
	var own, managed []*v1alpha1.NodeOverlay
	for _, o := range in.overlays {
		if isManagedOverlay(o) {
			managed = append(managed, o)
		} else {
			own = append(own, o)
		}
	}
	switch name {
	case "whole":
		return own, in.pods, nil
	case "sliced":
		if len(managed) == 0 {
			return nil, nil, fmt.Errorf("the sliced scenario needs gpuslice's NodeOverlays (gpuslice render) in the input")
		}
		rewrite, err := sliceRewrite(managed)
		if err != nil {
			return nil, nil, err
		}
		pods, err := rewrite.apply(in.pods)
		return append(append([]*v1alpha1.NodeOverlay{}, own...), managed...), pods, err
	}
	return nil, nil, fmt.Errorf("scenario %q is not whole or sliced", name)
}

func emitPods(scenario string, paths []string, w io.Writer) error {
	in, err := readManifests(paths)
	if err != nil {
		return err
	}
	_, pods, err := scenarioInputs(in, scenario)
	if err != nil {
		return err
	}
	for _, p := range pods {
		manifest := &corev1.Pod{TypeMeta: p.TypeMeta, Spec: p.Spec}
		manifest.Name, manifest.Namespace = p.Name, p.Namespace
		manifest.Labels, manifest.Annotations = p.Labels, p.Annotations
		text, err := yaml.Marshal(manifest)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "---\n%s", text)
	}
	return nil
}

func runCase(ctx context.Context, cfg config, paths []string, w io.Writer) error {
	in, err := readManifests(paths)
	if err != nil {
		return err
	}
	if len(in.nodePools) == 0 {
		return fmt.Errorf("the manifests define no NodePool")
	}
	out := report{Karpenter: karpenterVersion(), Pods: len(in.pods)}
	for _, name := range cfg.scenarios {
		overlays, pods, err := scenarioInputs(in, name)
		if err != nil {
			return err
		}
		start := time.Now()
		d, err := schedule(ctx, cfg.catalog, in, overlays, pods, cfg.deadline)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		out.Scenarios = append(out.Scenarios, summarize(name, d, time.Since(start)))
	}
	encoder := json.NewEncoder(w)
	encoder.SetIndent("", "  ")
	return encoder.Encode(out)
}

func summarize(name string, d *decision, took time.Duration) scenarioResult {
	s := scenarioResult{Name: name, NodeClaims: d.NodeClaims, Unschedulable: d.Unschedulable,
		Unprocessed: d.Unprocessed, Warnings: d.Warnings, Nodes: []nodeGroup{}, SolveSeconds: took.Seconds()}
	groups := map[[2]string]*nodeGroup{}
	for _, c := range d.NodeClaims {
		key := [2]string{c.NodePool, c.InstanceType}
		g, ok := groups[key]
		if !ok {
			g = &nodeGroup{NodePool: c.NodePool, InstanceType: c.InstanceType}
			groups[key] = g
		}
		g.Count++
		g.CostPerHour += c.Price
		s.CostPerHour += c.Price
		s.NodeCount++
		s.PodsPlaced += len(c.Pods)
	}
	for _, g := range groups {
		s.Nodes = append(s.Nodes, *g)
	}
	sort.Slice(s.Nodes, func(a, b int) bool {
		if s.Nodes[a].NodePool != s.Nodes[b].NodePool {
			return s.Nodes[a].NodePool < s.Nodes[b].NodePool
		}
		return s.Nodes[a].InstanceType < s.Nodes[b].InstanceType
	})
	return s
}
