// Package shim hands the Terraform random provider (a terraform-plugin-framework provider) to the
// Pulumi bridge.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"
	random "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns a new instance of Terraform's random provider.
func NewProvider() provider.Provider { return random.New() }
