package mgmt

import (
	"os"
	"time"
)

// routes registers every endpoint of the API.
func (s *Server) routes() {
	s.connRoutes()
	s.topologyRoutes()
	s.messageRoutes()
	s.overviewRoutes()
	s.definitionRoutes()
	s.policyRoutes() // api_policies.go
	s.limitRoutes()
	s.uiRoutes() // ui.go: the web UI at /
}

func (s *Server) uptime() time.Duration { return time.Since(s.started) }

func pid() int { return os.Getpid() }
