package main

// One provisioning decision by Karpenter's own code: the objects go into a controller-runtime
// fake client as they would sit in a cluster, Karpenter's NodeOverlay controller validates the
// overlays and fills its instance-type store, the overlay-decorated kwok cloud provider serves
// the catalog's instance types, and Karpenter's Provisioner lists the pending pods, builds its
// scheduler (NodePools by weight, DaemonSet overhead, limits) and solves. Each NodeClaim then
// launches the cheapest instance type among its options, as the kwok provider does.

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/awslabs/operatorpkg/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"gpuslice.io/tools/karpenter-oracle/catalog"
	kwokapis "sigs.k8s.io/karpenter/kwok/apis"
	kwokv1alpha1 "sigs.k8s.io/karpenter/kwok/apis/v1alpha1"
	kwok "sigs.k8s.io/karpenter/kwok/cloudprovider"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/apis/v1alpha1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider/overlay"
	"sigs.k8s.io/karpenter/pkg/controllers/nodeoverlay"
	"sigs.k8s.io/karpenter/pkg/controllers/provisioning"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	"sigs.k8s.io/karpenter/pkg/events"
	"sigs.k8s.io/karpenter/pkg/operator/options"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

type nodeClaim struct {
	NodePool     string   `json:"nodePool"`
	InstanceType string   `json:"instanceType"`
	Price        float64  `json:"costPerHour"`
	Pods         []string `json:"pods"`
	Options      int      `json:"instanceTypeOptions"`
}

type unschedulable struct {
	Pod    string `json:"pod"`
	Reason string `json:"reason"`
}

type decision struct {
	NodeClaims    []nodeClaim     `json:"nodeClaims"`
	Unschedulable []unschedulable `json:"unschedulable"`
	Unprocessed   int             `json:"unprocessed"` // pods the solve did not reach before its deadline
	Warnings      []string        `json:"warnings"`
}

type discardRecorder struct{}

func (discardRecorder) Publish(...events.Event) {}

// The node class every NodePool is pointed at: the kwok provider's.
const nodeClassName = "default"

func karpenterOptions() (*options.Options, error) {
	opts := &options.Options{}
	fs := &options.FlagSet{FlagSet: newFlagSet("karpenter")}
	opts.AddFlags(fs)
	// The defaults of the controller, with the NodeOverlay feature gate on as gpuslice's
	// overlays need it.
	if err := opts.Parse(fs, "--feature-gates=NodeOverlay=true"); err != nil {
		return nil, err
	}
	return opts, nil
}

func schedule(ctx context.Context, cat *catalog.Catalog, in *manifests, overlays []*v1alpha1.NodeOverlay,
	pods []*corev1.Pod, deadline time.Duration) (*decision, error) {
	nodeClass := &kwokv1alpha1.KWOKNodeClass{}
	nodeClass.Name = nodeClassName
	nodeClass.StatusConditions().SetTrue(status.ConditionReady)
	objects := []client.Object{nodeClass}
	for _, np := range in.nodePools {
		np = np.DeepCopy()
		np.Spec.Template.Spec.NodeClassRef = &karpv1.NodeClassReference{
			Group: kwokapis.Group, Kind: "KWOKNodeClass", Name: nodeClassName,
		}
		np.StatusConditions().SetTrue(karpv1.ConditionTypeValidationSucceeded)
		np.StatusConditions().SetTrue(karpv1.ConditionTypeNodeClassReady)
		objects = append(objects, np)
	}
	for _, o := range overlays {
		objects = append(objects, o.DeepCopy())
	}
	for _, d := range in.daemonSets {
		objects = append(objects, d.DeepCopy())
	}
	for _, p := range pods {
		objects = append(objects, p.DeepCopy())
	}
	kubeClient := fake.NewClientBuilder().
		WithScheme(scheme.Scheme).
		WithObjects(objects...).
		WithStatusSubresource(&v1alpha1.NodeOverlay{}, &karpv1.NodePool{}, &kwokv1alpha1.KWOKNodeClass{}).
		WithIndex(&corev1.Pod{}, "spec.nodeName", func(o client.Object) []string {
			return []string{o.(*corev1.Pod).Spec.NodeName}
		}).
		Build()

	clk := clock.RealClock{}
	undecorated := kwok.NewCloudProvider(ctx, kubeClient, cat.Types)
	store := nodeoverlay.NewInstanceTypeStore()
	cloudProvider := overlay.Decorate(undecorated, kubeClient, store)
	cluster := state.NewCluster(clk, kubeClient, cloudProvider)

	out := &decision{NodeClaims: []nodeClaim{}, Unschedulable: []unschedulable{}, Warnings: []string{}}
	controller := nodeoverlay.NewController(clk, kubeClient, undecorated, store, cluster)
	if _, err := controller.Reconcile(ctx, reconcile.Request{}); err != nil {
		return nil, fmt.Errorf("NodeOverlay controller: %w", err)
	}
	var stored v1alpha1.NodeOverlayList
	if err := kubeClient.List(ctx, &stored); err != nil {
		return nil, err
	}
	for i := range stored.Items {
		o := &stored.Items[i]
		if c := o.StatusConditions().Get(v1alpha1.ConditionTypeValidationSucceeded); c != nil && c.IsFalse() {
			out.Warnings = append(out.Warnings, fmt.Sprintf("NodeOverlay %s not applied: %s: %s", o.Name, c.Reason, c.Message))
		}
	}

	// What Provisioner.Schedule does, with the solve's one-minute cut-off replaced by `deadline`:
	// the oracle reports the whole decision, not the part a busy controller reaches in a minute.
	prov := provisioning.NewProvisioner(kubeClient, discardRecorder{}, cloudProvider, cluster, clk, nil, nil)
	pending, err := prov.GetPendingPods(ctx)
	if err != nil {
		return nil, err
	}
	kopts := options.FromContext(ctx)
	schedOpts := []scheduler.Options{
		scheduler.DisableReservedCapacityFallback,
		scheduler.NumConcurrentReconciles(int(math.Ceil(float64(kopts.CPURequests) / 1000.0))),
		scheduler.MinValuesPolicy(kopts.MinValuesPolicy),
	}
	if kopts.PreferencePolicy == options.PreferencePolicyIgnore {
		schedOpts = append(schedOpts, scheduler.IgnorePreferences)
	}
	s, err := prov.NewScheduler(ctx, pending, nil, sets.New[types.UID](), schedOpts...)
	if err != nil {
		return nil, fmt.Errorf("building the scheduler: %w", err)
	}
	solveCtx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	results, err := s.Solve(solveCtx, pending)
	if err != nil && solveCtx.Err() == nil {
		return nil, err
	}
	results = results.TruncateInstanceTypes(ctx, scheduler.MaxInstanceTypes)

	placed := 0
	for _, nc := range results.NewNodeClaims {
		launched, price, err := launch(cat, nc)
		if err != nil {
			return nil, err
		}
		claim := nodeClaim{NodePool: nc.NodePoolName, InstanceType: launched, Price: price, Options: len(nc.InstanceTypeOptions)}
		for _, p := range nc.Pods {
			claim.Pods = append(claim.Pods, podName(p))
		}
		sort.Strings(claim.Pods)
		placed += len(nc.Pods)
		out.NodeClaims = append(out.NodeClaims, claim)
	}
	for p, err := range results.PodErrors {
		out.Unschedulable = append(out.Unschedulable, unschedulable{Pod: podName(p), Reason: err.Error()})
	}
	sort.Slice(out.Unschedulable, func(a, b int) bool { return out.Unschedulable[a].Pod < out.Unschedulable[b].Pod })
	out.Unprocessed = len(pending) - placed - len(out.Unschedulable)
	if ignored := len(pods) - len(pending); ignored > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("Karpenter ignored %d pods it does not provision for", ignored))
	}
	return out, nil
}

// launch is the instance type a NodeClaim becomes: the one with the cheapest launchable offering
// its requirements allow (the kwok provider's choice; AWS's lowest-price fleet makes the same
// one), equal prices resolved in catalog order.
func launch(cat *catalog.Catalog, nc *scheduler.NodeClaim) (string, float64, error) {
	reqs := scheduling.NewRequirements(nc.Requirements.Values()...)
	best, bestPrice := "", math.MaxFloat64
	for _, it := range nc.InstanceTypeOptions {
		for _, o := range it.Offerings.Launchable().Compatible(reqs) {
			if o.Price < bestPrice || (o.Price == bestPrice && cat.Order[it.Name] < cat.Order[best]) {
				best, bestPrice = it.Name, o.Price
			}
		}
	}
	if best == "" {
		return "", 0, fmt.Errorf("a NodeClaim of NodePool %s has no launchable offering", nc.NodePoolName)
	}
	return best, bestPrice, nil
}
