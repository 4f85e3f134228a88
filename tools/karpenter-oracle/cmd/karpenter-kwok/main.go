// karpenter-kwok runs Karpenter's controller (sigs.k8s.io/karpenter: its operator with every
// controller, NodeOverlay included) against a real Kubernetes API server, with Karpenter's kwok
// cloud provider offering gpuslice's catalog as its instance types: what Karpenter's own kwok
// build does, with the catalog in place of kwok's generic instance types. NodeClaims it launches
// become Node objects without a kubelet.
//
//	karpenter-kwok crds       print the CustomResourceDefinitions it needs (NodePool, NodeClaim,
//	                          NodeOverlay, KWOKNodeClass) as YAML, for kubectl apply
//	karpenter-kwok [FLAGS]    run the controller; GPUSLICE_CATALOG names the catalog CSV,
//	                          KUBECONFIG the cluster, FLAGS are Karpenter's own
//	                          (--feature-gates=NodeOverlay=true, --disable-leader-election, ...)
//
// Test tooling for gpuslice (docs/karpenter.md), never part of the product.
package main

import (
	"fmt"
	"os"

	"github.com/samber/lo"

	"gpuslice.io/tools/karpenter-oracle/catalog"
	kwokapis "sigs.k8s.io/karpenter/kwok/apis"
	kwok "sigs.k8s.io/karpenter/kwok/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/apis"
	"sigs.k8s.io/karpenter/pkg/cloudprovider/overlay"
	"sigs.k8s.io/karpenter/pkg/controllers"
	"sigs.k8s.io/karpenter/pkg/controllers/node/health"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	"sigs.k8s.io/karpenter/pkg/operator"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "crds" {
		for _, crd := range [][]byte{apis.NodePoolCRD, apis.NodeClaimCRD, apis.NodeOverlayCRD, kwokapis.KWOKNodeClassCRD} {
			fmt.Printf("---\n%s\n", crd)
		}
		return
	}
	path := os.Getenv("GPUSLICE_CATALOG")
	if path == "" {
		fmt.Fprintln(os.Stderr, "karpenter-kwok: set GPUSLICE_CATALOG to the instance catalog CSV")
		os.Exit(2)
	}
	catalog.RegisterAWSLabels()
	cat, err := catalog.Read(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "karpenter-kwok: %v\n", err)
		os.Exit(2)
	}

	ctx, op := operator.NewOperator()
	undecorated := kwok.NewCloudProvider(ctx, op.GetClient(), cat.Types)
	cloudProvider := overlay.Decorate(undecorated, op.GetClient(), op.InstanceTypeStore)
	repairPolicyMatcher := lo.Must(health.NewRepairPolicyMatcher(ctx, cloudProvider))
	clusterState := state.NewCluster(op.Clock, op.GetClient(), cloudProvider, state.WithRepairPolicyMatcher(repairPolicyMatcher))
	op.WithControllers(ctx, controllers.NewControllers(
		ctx,
		op.Manager,
		op.Clock,
		op.GetClient(),
		op.EventRecorder,
		cloudProvider,
		undecorated,
		clusterState,
		op.InstanceTypeStore,
		op.PredictionStore,
	)...).Start(ctx)
}
