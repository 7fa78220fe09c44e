package resource

// Page selects a page of a list, numbered from 1.
type Page struct {
	Number int
	Size   int
}

// Page size limits, as in HCP Terraform.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	maxPageNumber   = 1 << 20
)

// Normalize applies the defaults and limits every list uses.
func (p Page) Normalize() Page {
	if p.Number < 1 {
		p.Number = 1
	}
	if p.Size < 1 {
		p.Size = DefaultPageSize
	}
	if p.Size > MaxPageSize {
		p.Size = MaxPageSize
	}
	if p.Number > maxPageNumber { // keeps the offset far from overflow
		p.Number = maxPageNumber
	}
	return p
}

// Offset is the number of rows before the page.
func (p Page) Offset() int { return (p.Number - 1) * p.Size }
