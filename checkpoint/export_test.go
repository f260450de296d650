package checkpoint

// ConditionalPut reports what the store's probe found: whether the server
// refuses, with 412, a PUT with "If-None-Match: *" of an existing object.
func ConditionalPut(s *SwiftStore) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conditionalPut
}
