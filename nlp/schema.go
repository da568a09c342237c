package nlp

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Schema is the small subset of JSON Schema that structured LLM output is
// checked against: types, object properties, required fields, array items,
// string enums and number ranges. It marshals to standard JSON Schema, which
// is how the prompt shows it to the model.
type Schema struct {
	Type        string             `json:"type"` // object, array, string, number, integer, boolean
	Description string             `json:"description,omitempty"`
	Properties  map[string]*Schema `json:"properties,omitempty"`
	Required    []string           `json:"required,omitempty"`
	Items       *Schema            `json:"items,omitempty"`
	Enum        []string           `json:"enum,omitempty"`
	Format      string             `json:"format,omitempty"` // "date-time" (RFC 3339) is checked
	Minimum     *float64           `json:"minimum,omitempty"`
	Maximum     *float64           `json:"maximum,omitempty"`
}

// Validate checks a value decoded by encoding/json into any against s and
// returns the first violation with its JSON path.
func (s *Schema) Validate(v any) error {
	return s.validate("$", v)
}

func (s *Schema) validate(path string, v any) error {
	if s == nil {
		return nil
	}
	switch s.Type {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want object, got %s", path, jsonType(v))
		}
		for _, r := range s.Required {
			if x, ok := obj[r]; !ok || x == nil {
				return fmt.Errorf("%s.%s: required field missing", path, r)
			}
		}
		keys := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys) // report the same first error every time
		for _, k := range keys {
			if x, ok := obj[k]; ok && x != nil {
				if err := s.Properties[k].validate(path+"."+k, x); err != nil {
					return err
				}
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want array, got %s", path, jsonType(v))
		}
		for i, x := range arr {
			if err := s.Items.validate(fmt.Sprintf("%s[%d]", path, i), x); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want string, got %s", path, jsonType(v))
		}
		if s.Format == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				return fmt.Errorf("%s: %q is not an RFC 3339 date-time", path, str)
			}
		}
		if len(s.Enum) > 0 {
			found := false
			for _, e := range s.Enum {
				if str == e {
					found = true
					break
				}
			}
			if !found {
				return fmt.Errorf("%s: %q is not one of %s", path, str, strings.Join(s.Enum, ", "))
			}
		}
	case "number", "integer":
		f, ok := v.(float64)
		if !ok {
			return fmt.Errorf("%s: want %s, got %s", path, s.Type, jsonType(v))
		}
		if s.Type == "integer" && f != float64(int64(f)) {
			return fmt.Errorf("%s: want integer, got %v", path, f)
		}
		if s.Minimum != nil && f < *s.Minimum {
			return fmt.Errorf("%s: %v is below the minimum %v", path, f, *s.Minimum)
		}
		if s.Maximum != nil && f > *s.Maximum {
			return fmt.Errorf("%s: %v is above the maximum %v", path, f, *s.Maximum)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want boolean, got %s", path, jsonType(v))
		}
	default:
		return fmt.Errorf("%s: schema has unknown type %q", path, s.Type)
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// Helpers that keep schema literals short.

// ObjectSchema returns an object schema whose listed properties are all required.
func ObjectSchema(props map[string]*Schema) *Schema {
	req := make([]string, 0, len(props))
	for k := range props {
		req = append(req, k)
	}
	sort.Strings(req)
	return &Schema{Type: "object", Properties: props, Required: req}
}

// StringSchema returns a string schema, restricted to enum when given.
func StringSchema(desc string, enum ...string) *Schema {
	return &Schema{Type: "string", Description: desc, Enum: enum}
}

// NumberSchema returns a number schema within [lo, hi].
func NumberSchema(desc string, lo, hi float64) *Schema {
	return &Schema{Type: "number", Description: desc, Minimum: &lo, Maximum: &hi}
}

// ArraySchema returns an array schema of items.
func ArraySchema(desc string, items *Schema) *Schema {
	return &Schema{Type: "array", Description: desc, Items: items}
}
