import{b2 as i}from"./index-Csv6kete.js";const n=o=>["",...i].includes(o);export{n as i};
