// Posts the raw review text to the HTTP API (its URL comes from config.js, written when the
// site is published) and shows the function's answer: "1" positive, "0" negative.
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
    const answer = (await response.text()).trim();
    if (!response.ok) {
      throw new Error(`the API answered ${response.status}: ${answer}`);
    }
    const positive = answer === "1";
    result.textContent = `Your review was ${positive ? "POSITIVE" : "NEGATIVE"}!`;
    result.className = positive ? "positive" : "negative";
  } catch (error) {
    result.textContent = `Sorry, something went wrong: ${error.message}`;
    result.className = "error";
  } finally {
    button.disabled = false;
  }
});
