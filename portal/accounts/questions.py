"""Authentication questions (at least eight to choose from)."""

QUESTIONS: dict[str, str] = {
    "first-street": "What was the name of the street you lived on at age 10?",
    "first-school": "What was the name of your first school?",
    "first-employer": "What was the name of your first employer?",
    "childhood-friend": "What is the first name of your best friend in childhood?",
    "first-car": "What was the make and model of your first car?",
    "birth-city-mother": "In what city was your mother born?",
    "first-concert": "What was the first concert you attended?",
    "favourite-teacher": "What is the last name of your favorite teacher?",
    "wedding-city": "In what city or town did you meet your spouse or partner?",
    "childhood-nickname": "What was your childhood nickname?",
}
MIN_QUESTIONS = 2
SLOTS = 3
