// Package catalog makes Karpenter instance types from gpuslice's catalog CSV
// (src/plan/data/aws-us-east-1.csv), the way Karpenter's AWS provider describes an EC2
// instance type: well-known labels as requirements (keys the catalog has no value for are
// DoesNotExist), capacity with the VM memory overhead taken off, kubelet overhead
// (kube-reserved, eviction threshold) and one on-demand offering per zone at the catalog's
// price. The allocatable resources this gives are checked against the catalog's
// karpenter_alloc_* columns, so a catalog whose figures are not what Karpenter computes is an
// error rather than a silent disagreement.
package catalog

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// The AWS provider's defaults for an AL2023 node: VM_MEMORY_OVERHEAD_PERCENT, the hard
// eviction threshold for memory and the root volume that becomes ephemeral-storage.
const (
	vmMemoryOverheadPercent = 0.075
	evictionMemoryMiB       = 100
	rootVolume              = "20Gi"
)

// The zones every catalog type is offered in: the catalog is per region and says nothing of
// zones, and gpuslice plan assumes every zone.
var zones = []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"}

// The AWS provider's labels, well known to Karpenter once the provider is loaded.
var awsLabels = []string{
	"karpenter.k8s.aws/capacity-reservation-id",
	"karpenter.k8s.aws/capacity-reservation-type",
	"karpenter.k8s.aws/capacity-reservation-interruptible",
	"karpenter.k8s.aws/instance-hypervisor",
	"karpenter.k8s.aws/instance-encryption-in-transit-supported",
	"karpenter.k8s.aws/instance-category",
	"karpenter.k8s.aws/instance-capability-flex",
	"karpenter.k8s.aws/instance-family",
	"karpenter.k8s.aws/instance-generation",
	"karpenter.k8s.aws/instance-size",
	"karpenter.k8s.aws/instance-local-nvme",
	"karpenter.k8s.aws/instance-cpu",
	"karpenter.k8s.aws/instance-cpu-manufacturer",
	"karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz",
	"karpenter.k8s.aws/instance-memory",
	"karpenter.k8s.aws/instance-ebs-bandwidth",
	"karpenter.k8s.aws/instance-network-bandwidth",
	"karpenter.k8s.aws/instance-gpu-name",
	"karpenter.k8s.aws/instance-gpu-manufacturer",
	"karpenter.k8s.aws/instance-gpu-count",
	"karpenter.k8s.aws/instance-gpu-memory",
	"karpenter.k8s.aws/instance-accelerator-name",
	"karpenter.k8s.aws/instance-accelerator-manufacturer",
	"karpenter.k8s.aws/instance-accelerator-count",
	"topology.k8s.aws/zone-id",
	"karpenter.k8s.aws/instance-tenancy",
	"karpenter.k8s.aws/placement-group-id",
	"karpenter.k8s.aws/placement-group-partition",
}

// RegisterAWSLabels makes the AWS provider's labels well known to Karpenter, as loading that
// provider does.
func RegisterAWSLabels() {
	karpv1.WellKnownLabels = karpv1.WellKnownLabels.Insert(awsLabels...)
}

// catalogRow is one line of the catalog CSV.
type catalogRow struct {
	name, family, arch, gpuModel, region string
	gpus, gpuMemMiB, vcpu, memMiB        int64
	allocCPUMillis, allocMemMiB, maxPods int64
	karpenterGPUs                        int64
	price                                *float64
}

// Catalog is the instance types of one catalog file.
type Catalog struct {
	Types []*cloudprovider.InstanceType // in the file's order
	Order map[string]int                // instance type -> index in Types
}

// Read parses a catalog CSV with gpuslice's columns.
func Read(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	column := map[string]int{}
	for i, name := range header {
		column[name] = i
	}
	cat := &Catalog{Order: map[string]int{}}
	for line := 2; ; line++ {
		record, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		row, err := parseRow(record, column)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, line, err)
		}
		it, err := row.instanceType()
		if err != nil {
			return nil, fmt.Errorf("%s: line %d (%s): %w", path, line, row.name, err)
		}
		cat.Order[row.name] = len(cat.Types)
		cat.Types = append(cat.Types, it)
	}
	if len(cat.Types) == 0 {
		return nil, fmt.Errorf("%s: no instance types", path)
	}
	return cat, nil
}

func parseRow(record []string, column map[string]int) (catalogRow, error) {
	text := func(name string) string {
		if i, ok := column[name]; ok && i < len(record) {
			return record[i]
		}
		return ""
	}
	var row catalogRow
	var err error
	integer := func(name string) int64 {
		if err != nil {
			return 0
		}
		var v int64
		v, err = strconv.ParseInt(text(name), 10, 64)
		if err != nil {
			err = fmt.Errorf("column %s: %q is not an integer", name, text(name))
		}
		return v
	}
	row.name = text("instance_type")
	row.family = text("family")
	row.arch = text("arch")
	row.gpuModel = text("gpu_model")
	row.region = text("region")
	row.gpus = integer("gpu_count")
	row.gpuMemMiB = integer("gpu_mem_mib_per_gpu")
	row.vcpu = integer("vcpu")
	row.memMiB = integer("mem_mib")
	row.allocCPUMillis = integer("karpenter_alloc_cpu_millis")
	row.allocMemMiB = integer("karpenter_alloc_mem_mib")
	row.maxPods = integer("karpenter_max_pods")
	row.karpenterGPUs = integer("karpenter_nvidia_gpu")
	if err != nil {
		return row, err
	}
	if p := text("od_usd_per_hour"); p != "" {
		price, perr := strconv.ParseFloat(p, 64)
		if perr != nil {
			return row, fmt.Errorf("column od_usd_per_hour: %q is not a price", p)
		}
		row.price = &price
	}
	if row.name == "" {
		return row, fmt.Errorf("column instance_type is empty")
	}
	return row, nil
}

// capacityMemoryMiB is the node memory Karpenter's AWS provider models: the EC2 memory less
// 64 MiB of CMA on Graviton, less the VM overhead percentage (rounded up).
func (r catalogRow) capacityMemoryMiB() int64 {
	mib := r.memMiB
	if r.arch == "arm64" {
		mib -= 64
	}
	return mib - int64(math.Ceil(float64(mib)*vmMemoryOverheadPercent))
}

// kubeReservedCPUMillis is the AWS provider's kube-reserved CPU: 6% of the first core, 1% of
// the second, 0.5% of the third and fourth, 0.25% of the rest.
func (r catalogRow) kubeReservedCPUMillis() int64 {
	cpu := r.vcpu * 1000
	var reserved int64
	for _, step := range []struct {
		start, end int64
		fraction   float64
	}{{0, 1000, 0.06}, {1000, 2000, 0.01}, {2000, 4000, 0.005}, {4000, 1 << 31, 0.0025}} {
		if cpu < step.start {
			continue
		}
		span := float64(step.end - step.start)
		if cpu < step.end {
			span = float64(cpu - step.start)
		}
		reserved += int64(span * step.fraction)
	}
	return reserved
}

var familyScheme = regexp.MustCompile(`(^[a-z]+)(\-[0-9]+tb)?([0-9]+).*\.`)

func (r catalogRow) requirements() scheduling.Requirements {
	in := func(key string, values ...string) *scheduling.Requirement {
		return scheduling.NewRequirement(key, corev1.NodeSelectorOpIn, values...)
	}
	absent := func(key string) *scheduling.Requirement {
		return scheduling.NewRequirement(key, corev1.NodeSelectorOpDoesNotExist)
	}
	reqs := scheduling.NewRequirements(
		in(corev1.LabelInstanceTypeStable, r.name),
		in(corev1.LabelArchStable, r.arch),
		in(corev1.LabelOSStable, string(corev1.Linux)),
		in(corev1.LabelTopologyZone, zones...),
		absent(corev1.LabelWindowsBuild),
		in(karpv1.CapacityTypeLabelKey, karpv1.CapacityTypeOnDemand),
		in("karpenter.k8s.aws/instance-cpu", strconv.FormatInt(r.vcpu, 10)),
		in("karpenter.k8s.aws/instance-memory", strconv.FormatInt(r.memMiB, 10)),
		absent("karpenter.k8s.aws/capacity-reservation-id"),
		absent("karpenter.k8s.aws/capacity-reservation-type"),
		absent("karpenter.k8s.aws/capacity-reservation-interruptible"),
	)
	if r.region != "" {
		reqs.Add(in(corev1.LabelTopologyRegion, r.region))
	}
	if m := familyScheme.FindStringSubmatch(r.name); len(m) == 4 {
		reqs.Add(in("karpenter.k8s.aws/instance-category", m[1]), in("karpenter.k8s.aws/instance-generation", m[3]))
	} else {
		reqs.Add(absent("karpenter.k8s.aws/instance-category"), absent("karpenter.k8s.aws/instance-generation"))
	}
	if family, size, ok := strings.Cut(r.name, "."); ok {
		reqs.Add(in("karpenter.k8s.aws/instance-family", family), in("karpenter.k8s.aws/instance-size", size))
	} else {
		reqs.Add(absent("karpenter.k8s.aws/instance-family"), absent("karpenter.k8s.aws/instance-size"))
	}
	gpuKeys := []string{"karpenter.k8s.aws/instance-gpu-name", "karpenter.k8s.aws/instance-gpu-manufacturer",
		"karpenter.k8s.aws/instance-gpu-count", "karpenter.k8s.aws/instance-gpu-memory"}
	if r.gpuModel != "" {
		values := []string{r.gpuModel, "nvidia", strconv.FormatInt(r.gpus, 10), strconv.FormatInt(r.gpuMemMiB, 10)}
		for i, key := range gpuKeys {
			reqs.Add(in(key, values[i]))
		}
	} else {
		for _, key := range gpuKeys {
			reqs.Add(absent(key))
		}
	}
	return reqs
}

func mib(n int64) resource.Quantity { return resource.MustParse(fmt.Sprintf("%dMi", n)) }

func (r catalogRow) instanceType() (*cloudprovider.InstanceType, error) {
	capacityMiB := r.capacityMemoryMiB()
	kubeReservedMiB := 11*r.maxPods + 255
	// What the catalog says Karpenter computes must be what Karpenter's formulas give.
	if got, want := r.vcpu*1000-r.kubeReservedCPUMillis(), r.allocCPUMillis; got != want {
		return nil, fmt.Errorf("karpenter_alloc_cpu_millis is %d, Karpenter's AWS provider computes %d", want, got)
	}
	if got, want := capacityMiB-kubeReservedMiB-evictionMemoryMiB, r.allocMemMiB; got != want {
		return nil, fmt.Errorf("karpenter_alloc_mem_mib is %d, Karpenter's AWS provider computes %d", want, got)
	}
	storage := resource.MustParse(rootVolume)
	it := &cloudprovider.InstanceType{
		Name:         r.name,
		Requirements: r.requirements(),
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU:              *resource.NewQuantity(r.vcpu, resource.DecimalSI),
			corev1.ResourceMemory:           mib(capacityMiB),
			corev1.ResourceEphemeralStorage: storage,
			corev1.ResourcePods:             *resource.NewQuantity(r.maxPods, resource.DecimalSI),
			"nvidia.com/gpu":                *resource.NewQuantity(r.karpenterGPUs, resource.DecimalSI),
		},
		Overhead: &cloudprovider.InstanceTypeOverhead{
			KubeReserved: corev1.ResourceList{
				corev1.ResourceCPU:              *resource.NewMilliQuantity(r.kubeReservedCPUMillis(), resource.DecimalSI),
				corev1.ResourceMemory:           mib(kubeReservedMiB),
				corev1.ResourceEphemeralStorage: resource.MustParse("1Gi"),
			},
			SystemReserved: corev1.ResourceList{},
			EvictionThreshold: corev1.ResourceList{
				corev1.ResourceMemory:           mib(evictionMemoryMiB),
				corev1.ResourceEphemeralStorage: *resource.NewQuantity(int64(math.Ceil(float64(storage.Value())/100*10)), resource.DecimalSI),
			},
		},
	}
	for _, zone := range zones {
		offering := &cloudprovider.Offering{
			Requirements: scheduling.NewRequirements(
				scheduling.NewRequirement(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, karpv1.CapacityTypeOnDemand),
				scheduling.NewRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, zone),
			),
			Available: r.price != nil,
		}
		if r.price != nil {
			offering.Price = *r.price
		}
		it.Offerings = append(it.Offerings, offering)
	}
	return it, nil
}
