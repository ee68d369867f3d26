import Link from "next/link";

export default function NotFound() {
  return (
    <section className="card narrow">
      <h1>Not found</h1>
      <p>There is nothing here. It may have been deleted, or the address is mistyped.</p>
      <p>
        <Link href="/">Back to the overview</Link>
      </p>
    </section>
  );
}
