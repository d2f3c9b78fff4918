package conformance

var routingChecks, basicChecks, confirmChecks, txChecks []Check
