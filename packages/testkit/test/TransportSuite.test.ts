import * as TransportSuite from "../src/TransportSuite.js"
import * as HttpTransport from "./HttpTransport.js"

TransportSuite.suite("HttpClient on node:http (in-test)", HttpTransport.layer("20 seconds"))
