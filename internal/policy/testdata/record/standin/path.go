package main

import "github.com/hashicorp/terraform-plugin-framework/path"

func pathOf(a string) path.Path { return path.Root(a) }
