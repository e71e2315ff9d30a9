"""The SIPp suite's runner: scenarios, the server it starts, what it hears, the checks it makes."""
