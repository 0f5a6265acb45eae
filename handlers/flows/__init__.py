"""Multi-step dialogues (sign-up; next quizzes and contest entry) on a namespaced store."""
