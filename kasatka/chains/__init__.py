"""Touch chains, their steps, enrollments of contacts and the touches they produce."""
