"""mealimpact: food-photo recognition and meal-impact glucose prediction."""

__version__ = "0.1.0"
