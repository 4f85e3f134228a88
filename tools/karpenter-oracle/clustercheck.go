package main

// Helpers of cluster-check.sh, which has no other language at hand: free loopback ports for a
// private control plane, and the comparison of the NodeClaims Karpenter launched on the cluster
// with gpuslice plan's and the oracle's sliced scenario.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
)

// freePorts prints n loopback ports nothing listens on, one per line.
func freePorts(n int, w io.Writer) error {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		fmt.Fprintln(w, l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

type counts map[[2]string]int

func (c counts) String() string {
	var parts []string
	for k, v := range c {
		parts = append(parts, fmt.Sprintf("%dx %s/%s", v, k[0], k[1]))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func equal(a, b counts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func scenarioNodes(path, name string) (counts, error) {
	var doc struct {
		Scenarios []struct {
			Name  string `json:"name"`
			Nodes []struct {
				NodePool     string `json:"nodePool"`
				InstanceType string `json:"instanceType"`
				Count        int    `json:"count"`
			} `json:"nodes"`
		} `json:"scenarios"`
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(text, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range doc.Scenarios {
		if s.Name != name {
			continue
		}
		out := counts{}
		for _, n := range s.Nodes {
			out[[2]string{n.NodePool, n.InstanceType}] += n.Count
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: no scenario %s", path, name)
}

// compareCluster prints the three answers and returns whether they agree and every NodeClaim
// on the cluster was launched.
func compareCluster(planPath, oraclePath, nodeClaimsPath string, w io.Writer) (bool, error) {
	plan, err := scenarioNodes(planPath, "sliced")
	if err != nil {
		return false, err
	}
	oracle, err := scenarioNodes(oraclePath, "sliced")
	if err != nil {
		return false, err
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Status struct {
				Conditions []struct {
					Type   string `json:"type"`
					Status string `json:"status"`
				} `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	text, err := os.ReadFile(nodeClaimsPath)
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(text, &list); err != nil {
		return false, fmt.Errorf("%s: %w", nodeClaimsPath, err)
	}
	cluster, launched := counts{}, 0
	for _, nc := range list.Items {
		labels := nc.Metadata.Labels
		cluster[[2]string{labels["karpenter.sh/nodepool"], labels["node.kubernetes.io/instance-type"]}]++
		for _, c := range nc.Status.Conditions {
			if c.Type == "Launched" && c.Status == "True" {
				launched++
			}
		}
	}
	fmt.Fprintf(w, "gpuslice plan (sliced):    %s\n", plan)
	fmt.Fprintf(w, "karpenter-oracle (sliced): %s\n", oracle)
	fmt.Fprintf(w, "Karpenter on the cluster:  %s (%d of %d NodeClaims Launched)\n", cluster, launched, len(list.Items))
	return equal(plan, cluster) && equal(oracle, cluster) && launched == len(list.Items), nil
}
