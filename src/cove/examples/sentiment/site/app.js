// Posts the raw review text to the HTTP API (its URL comes from config.js, written when the
// site is published) and shows the function's answer: JSON with a verdict (positive, negative
// or unknown) and a message that says it in words.
const form = document.getElementById("review-form");
const result = document.getElementById("result");
const button = document.getElementById("submit");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const review = document.getElementById("review").value;
  button.disabled = true;
  result.className = "";
  result.textContent = "Reading your review…";
  try {
    const response = await fetch(window.SENTIMENT_API, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: review,
    });
    const text = await response.text();
    let answer;
    try {
      answer = JSON.parse(text);
    } catch {
      throw new Error(response.status === 502 || response.status === 503
        ? "the model is gone (its endpoint no longer answers); run cove demo again."
        : `the API answered ${response.status}: ${text.trim()}`);
    }
    if (!response.ok) {
      throw new Error(answer.message || `the API answered ${response.status}`);
    }
    result.textContent = answer.message;
    result.className = answer.verdict === "unknown" ? "unknown" : answer.verdict;
  } catch (error) {
    result.textContent = error instanceof TypeError  // fetch itself failed: cove is down
      ? "Sorry, the API does not answer: is cove still running?"
      : `Sorry: ${error.message}`;
    result.className = "error";
  } finally {
    button.disabled = false;
  }
});
