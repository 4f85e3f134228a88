package main

// The pod specs users run once GPUs are sliced under a dedicated resource: each pod asks for
// the slice resource gpuslice's NodeOverlays declare instead of nvidia.com/gpu, one slice per
// GPU it asked for or, when the overlays carry a per-slice memory target
// (gpuslice.io/slice-memory) and the pod states its GPU memory (gpuslice.io/gpu-memory),
// enough slices to hold that memory. This is gpuslice's documented contract for pod specs, not
// Karpenter's behaviour; the scheduler then sees the pods exactly as a cluster would hold them.

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	"sigs.k8s.io/karpenter/pkg/apis/v1alpha1"
)

const (
	nvidiaGPU           = corev1.ResourceName("nvidia.com/gpu")
	gpuMemoryAnnotation = "gpuslice.io/gpu-memory"
	sliceMemoryLabel    = "gpuslice.io/slice-memory"
)

type rewrite struct {
	resource    corev1.ResourceName
	sliceMemory int64 // bytes; 0 when the overlays carry no target
}

func sliceRewrite(managed []*v1alpha1.NodeOverlay) (rewrite, error) {
	resources := map[corev1.ResourceName]bool{}
	memories := map[string]bool{}
	for _, o := range managed {
		for name := range o.Spec.Capacity {
			resources[name] = true
		}
		memories[o.Labels[sliceMemoryLabel]] = true
	}
	if len(resources) != 1 || len(memories) != 1 {
		return rewrite{}, fmt.Errorf("gpuslice's NodeOverlays must declare one resource and one %s label", sliceMemoryLabel)
	}
	var out rewrite
	for name := range resources {
		out.resource = name
	}
	for m := range memories {
		if m == "" {
			continue
		}
		q, err := resource.ParseQuantity(m)
		if err != nil || q.Value() <= 0 {
			return rewrite{}, fmt.Errorf("label %s: %q is not an amount of memory", sliceMemoryLabel, m)
		}
		out.sliceMemory = q.Value()
	}
	return out, nil
}

// apply returns copies of the pods asking for slices. A pod's slices go on its first app
// container that asked for GPUs, so the pod as a whole asks for exactly that many.
func (r rewrite) apply(pods []*corev1.Pod) ([]*corev1.Pod, error) {
	out := make([]*corev1.Pod, 0, len(pods))
	for _, p := range pods {
		gpus := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})[nvidiaGPU]
		if gpus.IsZero() {
			out = append(out, p)
			continue
		}
		units := gpus.Value()
		if stated, ok := p.Annotations[gpuMemoryAnnotation]; ok && r.sliceMemory > 0 {
			q, err := resource.ParseQuantity(stated)
			if err != nil || q.Value() <= 0 {
				return nil, fmt.Errorf("pod %s: annotation %s: %q is not an amount of memory", podName(p), gpuMemoryAnnotation, stated)
			}
			units = (q.Value() + r.sliceMemory - 1) / r.sliceMemory
		}
		c := p.DeepCopy()
		first := 0
		for i := len(c.Spec.Containers) - 1; i >= 0; i-- {
			if _, asked := c.Spec.Containers[i].Resources.Requests[nvidiaGPU]; asked {
				first = i
			}
		}
		for _, containers := range [][]corev1.Container{c.Spec.InitContainers, c.Spec.Containers} {
			for i := range containers {
				delete(containers[i].Resources.Requests, nvidiaGPU)
				delete(containers[i].Resources.Limits, nvidiaGPU)
			}
		}
		res := &c.Spec.Containers[first].Resources
		if res.Requests == nil {
			res.Requests = corev1.ResourceList{}
		}
		if res.Limits == nil {
			res.Limits = corev1.ResourceList{}
		}
		q := *resource.NewQuantity(units, resource.DecimalSI)
		res.Requests[r.resource] = q
		res.Limits[r.resource] = q
		out = append(out, c)
	}
	return out, nil
}
