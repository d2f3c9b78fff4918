package mgmt

func (s *Server) definitionRoutes() {}
