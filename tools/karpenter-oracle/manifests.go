package main

// The manifests gpuslice plan reads, turned into the API objects a cluster would hold: the
// pods a workload's controller creates (named as gpuslice names them, pending and marked
// unschedulable by kube-scheduler), requests defaulted from limits as the API server does,
// NodePools, NodeOverlays and DaemonSets.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/apis/v1alpha1"
)

type manifests struct {
	pods       []*corev1.Pod
	daemonSets []*appsv1.DaemonSet
	nodePools  []*karpv1.NodePool
	overlays   []*v1alpha1.NodeOverlay
}

// expandPath lists the .yaml, .yml and .json files under a directory, sorted, or the file itself.
func expandPath(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func readManifests(paths []string) (*manifests, error) {
	out := &manifests{}
	for _, path := range paths {
		files, err := expandPath(path)
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			if err := out.readFile(file); err != nil {
				return nil, err
			}
		}
	}
	for i, pod := range out.pods {
		// The queue orders pods of equal CPU and memory by creation time, then UID: equal times
		// and UIDs in input order keep gpuslice's order among them.
		pod.UID = types.UID(fmt.Sprintf("pod-%08d", i))
	}
	return out, nil
}

func (m *manifests) readFile(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for document := 1; ; document++ {
		raw, err := reader.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", file, document, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		if err := m.readDocument(raw); err != nil {
			return fmt.Errorf("%s: document %d: %w", file, document, err)
		}
	}
}

func (m *manifests) readDocument(raw []byte) error {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return err
	}
	decode := func(into any) error { return yaml.Unmarshal(raw, into) }
	switch meta.Kind {
	case "":
		return nil
	case "Pod":
		var pod corev1.Pod
		if err := decode(&pod); err != nil {
			return err
		}
		m.addPods(pod.ObjectMeta, corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}, 1, false)
	case "Deployment":
		var d appsv1.Deployment
		if err := decode(&d); err != nil {
			return err
		}
		m.addPods(d.ObjectMeta, d.Spec.Template, replicas(d.Spec.Replicas), true)
	case "ReplicaSet":
		var r appsv1.ReplicaSet
		if err := decode(&r); err != nil {
			return err
		}
		m.addPods(r.ObjectMeta, r.Spec.Template, replicas(r.Spec.Replicas), true)
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := decode(&s); err != nil {
			return err
		}
		m.addPods(s.ObjectMeta, s.Spec.Template, replicas(s.Spec.Replicas), true)
	case "Job":
		var j batchv1.Job
		if err := decode(&j); err != nil {
			return err
		}
		m.addPods(j.ObjectMeta, j.Spec.Template, jobPods(j.Spec), true)
	case "CronJob":
		var c batchv1.CronJob
		if err := decode(&c); err != nil {
			return err
		}
		count := jobPods(c.Spec.JobTemplate.Spec)
		if c.Spec.Suspend != nil && *c.Spec.Suspend {
			count = 0
		}
		m.addPods(c.ObjectMeta, c.Spec.JobTemplate.Spec.Template, count, true)
	case "DaemonSet":
		var d appsv1.DaemonSet
		if err := decode(&d); err != nil {
			return err
		}
		if d.Namespace == "" {
			d.Namespace = "default"
		}
		defaultRequests(&d.Spec.Template.Spec)
		m.daemonSets = append(m.daemonSets, &d)
	case "NodePool":
		var np karpv1.NodePool
		if err := decode(&np); err != nil {
			return err
		}
		m.nodePools = append(m.nodePools, &np)
	case "NodeOverlay":
		var o v1alpha1.NodeOverlay
		if err := decode(&o); err != nil {
			return err
		}
		m.overlays = append(m.overlays, &o)
	}
	return nil
}

func replicas(r *int32) int {
	if r == nil {
		return 1
	}
	return int(*r)
}

// jobPods is how many pods a Job runs at once: its parallelism, no more than the completions
// it needs, none while suspended.
func jobPods(spec batchv1.JobSpec) int {
	if spec.Suspend != nil && *spec.Suspend {
		return 0
	}
	parallelism := replicas(spec.Parallelism)
	completions := parallelism
	if spec.Completions != nil {
		completions = int(*spec.Completions)
	}
	return min(parallelism, completions)
}

// defaultRequests gives every container a request equal to its limit where it has none, as the
// API server's defaulting does.
func defaultRequests(spec *corev1.PodSpec) {
	for _, containers := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range containers {
			c := &containers[i]
			for name, limit := range c.Resources.Limits {
				if _, ok := c.Resources.Requests[name]; ok {
					continue
				}
				if c.Resources.Requests == nil {
					c.Resources.Requests = corev1.ResourceList{}
				}
				c.Resources.Requests[name] = limit.DeepCopy()
			}
		}
	}
}

func (m *manifests) addPods(owner metav1.ObjectMeta, template corev1.PodTemplateSpec, count int, workload bool) {
	namespace := owner.Namespace
	if namespace == "" {
		namespace = "default"
	}
	for i := 0; i < count; i++ {
		pod := &corev1.Pod{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{
				Namespace:   namespace,
				Name:        owner.Name,
				Labels:      template.Labels,
				Annotations: template.Annotations,
			},
			Spec: *template.Spec.DeepCopy(),
			Status: corev1.PodStatus{
				Phase: corev1.PodPending,
				Conditions: []corev1.PodCondition{{
					Type:   corev1.PodScheduled,
					Status: corev1.ConditionFalse,
					Reason: corev1.PodReasonUnschedulable,
				}},
			},
		}
		if workload {
			pod.Name = fmt.Sprintf("%s-%d", owner.Name, i)
		}
		defaultRequests(&pod.Spec)
		m.pods = append(m.pods, pod)
	}
}

func podName(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

func isManagedOverlay(o *v1alpha1.NodeOverlay) bool {
	return o.Labels["app.kubernetes.io/managed-by"] == "gpuslice"
}
