// Command runcred gives Terraform/OpenTofu runs short-lived cloud credentials.
package main

import (
	"os"

	"github.com/runcred/runcred/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
