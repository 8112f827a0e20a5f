"""Streamlit pages: thin views over advcore. `ui` holds the Streamlit-side helpers."""
