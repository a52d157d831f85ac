import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The built files go to dist/, which the suite's console service serves
// (BSS_CONSOLE_DIR). One copy of the protobuf runtime, whether it comes
// from the console or from the generated client.
export default defineConfig({
  plugins: [react()],
  resolve: { dedupe: ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web"] },
  build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 2000 },
});
